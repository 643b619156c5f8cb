//! Administration of accounts, and that users cannot reach it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// Every admin route, with a body where it takes one. A new admin route must be added here.
fn admin_routes() -> Vec<(Method, &'static str, serde_json::Value)> {
    vec![
        (Method::GET, "/api/admin/users", json!(null)),
        (Method::GET, "/api/admin/users/1", json!(null)),
        (Method::PATCH, "/api/admin/users/1", json!({"disabled": true})),
        (Method::GET, "/api/admin/users/1/balance", json!(null)),
        (Method::GET, "/api/admin/users/1/ledger", json!(null)),
        (Method::POST, "/api/admin/users/1/adjustments", json!({"amount": "5", "reason": "x"})),
        (Method::PUT, "/api/admin/users/1/credit-limit", json!({"credit_limit": "5"})),
        (Method::GET, "/api/admin/carriers", json!(null)),
        (Method::POST, "/api/admin/carriers", json!({"name": "x", "gateways": [{"host": "192.0.2.1"}]})),
        (Method::GET, "/api/admin/carriers/1", json!(null)),
        (Method::PUT, "/api/admin/carriers/1", json!({"name": "x", "gateways": [{"host": "192.0.2.1"}]})),
        (Method::DELETE, "/api/admin/carriers/1", json!(null)),
        (Method::GET, "/api/admin/dids", json!(null)),
        (Method::POST, "/api/admin/dids", json!({"number": "+442079460123", "user_id": 1})),
        (Method::DELETE, "/api/admin/dids/1", json!(null)),
    ]
}

#[tokio::test]
async fn users_get_403_on_every_admin_route() {
    let app = spawn_app().await;
    let user = app.new_user("u@example.com").await;
    for (method, path, body) in admin_routes() {
        let (status, err) = status_json(app.send_auth(method.clone(), path, &user.access, body.clone()).await).await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
        let r = app.client.request(method, app.url(path)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} without a token");
    }
    // The account the PATCH aimed at (the admin, id 1) is untouched.
    assert_eq!(app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn list_and_search_users() {
    let app = spawn_app().await;
    for (email, name) in [
        ("ada@example.com", "Ada Lovelace"),
        ("grace@example.com", "Grace Hopper"),
        ("alan@example.org", "Alan 100%_Turing"),
    ] {
        assert_eq!(app.signup(email, name).await.status(), StatusCode::CREATED);
    }
    let admin = app.admin().await;
    let get = |q: &'static str| {
        let app = &app;
        let token = admin.access.clone();
        async move { status_json(app.get_auth(&format!("/api/admin/users{q}"), &token).await).await }
    };
    let (status, page) = get("").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 4);
    assert_eq!(page["items"][0]["email"], ADMIN_EMAIL);
    assert_eq!(page["items"][0]["role"], "admin");

    let (_, page) = get("?q=GRACE").await;
    assert_eq!(page["total"], 1, "case-insensitive on the name: {page}");
    let (_, page) = get("?q=example.org").await;
    assert_eq!(page["items"][0]["display_name"], "Alan 100%_Turing");
    let (_, page) = get("?q=%25_").await;
    assert_eq!(page["total"], 1, "% and _ match themselves: {page}");
    let (_, page) = get("?q=nobody").await;
    assert_eq!(page["total"], 0);

    let (_, page) = get("?page=2&per_page=3").await;
    assert_eq!((page["total"].as_u64(), page["items"].as_array().unwrap().len()), (Some(4), 1));

    for (q, field) in [("?page=0", "page"), ("?per_page=0", "per_page"), ("?per_page=101", "per_page")] {
        let (status, err) = get(q).await;
        assert!(assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation").contains_key(field));
    }
    let (status, err) = get("?page=abc").await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn disabled_users_cannot_log_in_refresh_or_use_their_token() {
    let app = spawn_app().await;
    let user = app.new_user("d@example.com").await;
    let id = user.user["id"].as_i64().unwrap();
    let admin = app.admin().await;

    let (status, updated) = status_json(
        app.send_auth(Method::PATCH, &format!("/api/admin/users/{id}"), &admin.access, json!({"disabled": true})).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["disabled"], true);

    let (status, err) = status_json(app.login("d@example.com", PASSWORD).await).await;
    assert_error(status, &err, StatusCode::FORBIDDEN, "account_disabled");
    // Someone without the password learns nothing about the account's state.
    let (status, err) = status_json(app.login("d@example.com", "wrong password!").await).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let (status, err) = status_json(app.get_auth("/api/me", &user.access).await).await;
    assert_error(status, &err, StatusCode::FORBIDDEN, "account_disabled");
    assert_eq!(app.refresh(&user.refresh).await.status(), StatusCode::UNAUTHORIZED);

    // Enabled again: logging in works; the revoked session stays revoked.
    let r = app
        .send_auth(Method::PATCH, &format!("/api/admin/users/{id}"), &admin.access, json!({"disabled": false}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.login("d@example.com", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.refresh(&user.refresh).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_edge_cases() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let admin_id = admin.user["id"].as_i64().unwrap();
    let (status, err) = status_json(
        app.send_auth(Method::PATCH, &format!("/api/admin/users/{admin_id}"), &admin.access, json!({"disabled": true}))
            .await,
    )
    .await;
    assert_error(status, &err, StatusCode::CONFLICT, "conflict");
    let (status, err) = status_json(
        app.send_auth(Method::PATCH, "/api/admin/users/424242", &admin.access, json!({"disabled": true})).await,
    )
    .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    let (status, err) = status_json(app.get_auth("/api/admin/users/abc", &admin.access).await).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "bad_request");
    let (status, err) = status_json(
        app.send_auth(Method::PATCH, "/api/admin/users/1", &admin.access, json!({"disabled": "yes"})).await,
    )
    .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "bad_request");
}
