//! Sign-up, log-in, refresh, log-out, profile and password, with bad input of every kind.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn signup_then_me_then_login() {
    let app = spawn_app().await;
    let r = app.signup("  Ada@Example.com ", "  Ada Lovelace ").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let s = session_of(r).await;
    assert_eq!(s.user["email"], "ada@example.com");
    assert_eq!(s.user["display_name"], "Ada Lovelace");
    assert_eq!(s.user["role"], "user");

    let (status, me) = status_json(app.get_auth("/api/me", &s.access).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "ada@example.com");

    // The email matches case-insensitively at log-in too.
    let r = app.login("ADA@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again = session_of(r).await;
    assert_ne!(again.refresh, s.refresh);
}

#[tokio::test]
async fn refresh_cookie_is_http_only_and_scoped() {
    let app = spawn_app().await;
    let r = app.signup("c@example.com", "C").await;
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/api/auth", "Max-Age="] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http on loopback: not Secure");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "never in the body");
    assert_eq!(body["expires_in"], 900);
}

#[tokio::test]
async fn signup_refuses_bad_fields_and_writes_nothing() {
    let app = spawn_app().await;
    let long_name = "n".repeat(65);
    let long_email = format!("{}@example.com", "e".repeat(250));
    let cases = [
        (json!({"email": "not-an-email", "password": PASSWORD, "display_name": "X"}), "email"),
        (json!({"email": "", "password": PASSWORD, "display_name": "X"}), "email"),
        (json!({"email": long_email, "password": PASSWORD, "display_name": "X"}), "email"),
        (json!({"email": "a@example.com", "password": "short", "display_name": "X"}), "password"),
        (json!({"email": "a@example.com", "password": "p".repeat(129), "display_name": "X"}), "password"),
        (json!({"email": "a@example.com", "password": PASSWORD, "display_name": "   "}), "display_name"),
        (json!({"email": "a@example.com", "password": PASSWORD, "display_name": long_name}), "display_name"),
    ];
    for (body, field) in cases {
        let (status, err) = status_json(app.post("/api/auth/signup", body.clone()).await).await;
        let fields = assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(fields.contains_key(field), "{field} in {err} for {body}");
    }
    // Every field wrong at once: all three reported.
    let (status, err) =
        status_json(app.post("/api/auth/signup", json!({"email": "x", "password": "y", "display_name": ""})).await)
            .await;
    let fields = assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(fields.len(), 3, "{err}");

    // Missing and mistyped fields are malformed requests.
    for body in [
        json!({"email": "a@example.com", "password": PASSWORD}),
        json!({"email": 1, "password": PASSWORD, "display_name": "x"}),
    ] {
        let (status, err) = status_json(app.post("/api/auth/signup", body).await).await;
        assert_error(status, &err, StatusCode::BAD_REQUEST, "bad_request");
    }
    // Nothing was written: the address is still free and the admin sees one account (theirs).
    assert_eq!(app.signup("a@example.com", "A").await.status(), StatusCode::CREATED);
    let admin = app.admin().await;
    let (_, page) = status_json(app.get_auth("/api/admin/users", &admin.access).await).await;
    assert_eq!(page["total"], 2, "{page}");
}

#[tokio::test]
async fn duplicate_email_is_a_conflict() {
    let app = spawn_app().await;
    app.new_user("dup@example.com").await;
    let (status, err) = status_json(app.signup("DUP@example.com", "Other").await).await;
    assert_error(status, &err, StatusCode::CONFLICT, "email_taken");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = spawn_app().await;
    app.new_user("known@example.com").await;
    let (s1, wrong) = status_json(app.login("known@example.com", "wrong password!").await).await;
    let (s2, unknown) = status_json(app.login("nobody@example.com", PASSWORD).await).await;
    assert_error(s1, &wrong, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!((s1, &wrong), (s2, &unknown));
    let (status, err) = status_json(app.login("known@example.com", "").await).await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
}

#[tokio::test]
async fn login_is_rate_limited_per_account() {
    let app = spawn_app_with(|s| s.auth.login_per_account_per_minute = 3).await;
    app.new_user("target@example.com").await; // signup spends one attempt
    for _ in 0..2 {
        assert_eq!(app.login("target@example.com", "wrong password!").await.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app.login("target@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let (status, err) = status_json(r).await;
    assert_error(status, &err, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Other accounts are not locked out by it.
    assert_eq!(app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_is_rate_limited_per_ip() {
    let app = spawn_app_with(|s| s.auth.login_per_ip_per_minute = 2).await;
    assert_eq!(app.login("a@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("b@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("c@example.com", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let s = app.new_user("r@example.com").await;

    let r1 = app.refresh(&s.refresh).await;
    assert_eq!(r1.status(), StatusCode::OK);
    let second = session_of(r1).await;
    assert_ne!(second.refresh, s.refresh);
    assert_eq!(app.get_auth("/api/me", &second.access).await.status(), StatusCode::OK);

    // The first token again: theft. Refused, and the current one dies with it.
    let (status, err) = status_json(app.refresh(&s.refresh).await).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (status, err) = status_json(app.refresh(&second.refresh).await).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "unauthenticated");

    // Another login (another family) is unaffected by the revocation.
    let other = session_of(app.login("r@example.com", PASSWORD).await).await;
    assert_eq!(app.refresh(&other.refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_without_or_with_garbage_cookie() {
    let app = spawn_app().await;
    let r = app.client.post(app.url("/api/auth/refresh")).send().await.unwrap();
    let (status, err) = status_json(r).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (status, err) = status_json(app.refresh("garbage").await).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let s = app.new_user("l@example.com").await;
    let r = app.logout(&s.refresh).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("callplat_refresh=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(app.refresh(&s.refresh).await.status(), StatusCode::UNAUTHORIZED);
    // Logging out twice, or without a session, is harmless.
    assert_eq!(app.logout(&s.refresh).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn change_display_name() {
    let app = spawn_app().await;
    let s = app.new_user("n@example.com").await;
    let (status, user) =
        status_json(app.send_auth(Method::PATCH, "/api/me", &s.access, json!({"display_name": " Grace "})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["display_name"], "Grace");
    let (_, me) = status_json(app.get_auth("/api/me", &s.access).await).await;
    assert_eq!(me["display_name"], "Grace");
    for bad in ["", &"x".repeat(65)] {
        let (status, err) =
            status_json(app.send_auth(Method::PATCH, "/api/me", &s.access, json!({"display_name": bad})).await).await;
        let fields = assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(fields.contains_key("display_name"));
    }
    let (_, me) = status_json(app.get_auth("/api/me", &s.access).await).await;
    assert_eq!(me["display_name"], "Grace", "a refused change changes nothing");
}

#[tokio::test]
async fn change_password_revokes_other_sessions() {
    let app = spawn_app().await;
    let s = app.new_user("p@example.com").await;
    let other_device = session_of(app.login("p@example.com", PASSWORD).await).await;

    let body = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (status, err) = status_json(
        app.send_auth(Method::POST, "/api/me/password", &s.access, body("wrong one!!", "new password 1")).await,
    )
    .await;
    assert!(
        assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation").contains_key("current_password")
    );
    let (status, err) =
        status_json(app.send_auth(Method::POST, "/api/me/password", &s.access, body(PASSWORD, "short")).await).await;
    assert!(assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation").contains_key("new_password"));

    let r = app.send_auth(Method::POST, "/api/me/password", &s.access, body(PASSWORD, "new password 1")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = session_of(r).await;

    assert_eq!(app.login("p@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("p@example.com", "new password 1").await.status(), StatusCode::OK);
    assert_eq!(app.refresh(&s.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&other_device.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&fresh.refresh).await.status(), StatusCode::OK);
}
