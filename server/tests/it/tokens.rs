//! Access tokens that must be refused.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims(user_id: &Value, overrides: Value) -> Value {
    let mut c = json!({
        "sub": user_id.to_string(), "role": "user", "iss": "callplat", "aud": "callplat",
        "iat": now(), "nbf": now(), "exp": now() + 900,
    });
    for (k, v) in overrides.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn me_with(app: &TestApp, token: &str) -> (StatusCode, Value) {
    status_json(app.get_auth("/api/me", token).await).await
}

#[tokio::test]
async fn a_well_formed_token_of_our_own_works() {
    let app = spawn_app().await;
    let s = app.new_user("t@example.com").await;
    let (status, _) = me_with(&app, &sign(&claims(&s.user["id"], json!({})), SECRET)).await;
    assert_eq!(status, StatusCode::OK, "the control case for the refusals below");
}

#[tokio::test]
async fn refuses_bad_tokens() {
    let app = spawn_app().await;
    let s = app.new_user("t@example.com").await;
    let id = &s.user["id"];

    let mut flipped = s.access.clone().into_bytes();
    let i = flipped.len() - 5;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();

    let header_none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims(id, json!({})).to_string());
    let alg_none = format!("{header_none}.{body}.");

    let cases = [
        ("flipped byte", flipped),
        ("alg none", alg_none),
        ("another key", sign(&claims(id, json!({})), "some-other-secret-some-other-secret-000")),
        ("wrong aud", sign(&claims(id, json!({"aud": "someone-else"})), SECRET)),
        ("wrong iss", sign(&claims(id, json!({"iss": "someone-else"})), SECRET)),
        ("not yet valid", sign(&claims(id, json!({"nbf": now() + 300})), SECRET)),
        ("no exp", {
            let mut c = claims(id, json!({}));
            c.as_object_mut().unwrap().remove("exp");
            sign(&c, SECRET)
        }),
        ("unknown user", sign(&claims(&json!(999_999), json!({})), SECRET)),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (what, token) in cases {
        let (status, err) = me_with(&app, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {err}");
        assert_eq!(err["error"]["code"], "unauthenticated", "{what}: {err}");
    }

    let expired = sign(&claims(id, json!({"iat": now() - 1000, "nbf": now() - 1000, "exp": now() - 100})), SECRET);
    let (status, err) = me_with(&app, &expired).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "token_expired");

    let r = app.client.get(app.url("/api/me")).send().await.unwrap();
    let (status, err) = status_json(r).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app.client.get(app.url("/api/me")).header("authorization", "Basic abc").send().await.unwrap();
    let (status, err) = status_json(r).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_user_token_cannot_claim_admin() {
    let app = spawn_app().await;
    let s = app.new_user("t@example.com").await;
    // Signed with our key but claiming a role the account does not have: the account decides.
    let forged = sign(&claims(&s.user["id"], json!({"role": "admin"})), SECRET);
    let (status, err) = status_json(app.get_auth("/api/admin/users", &forged).await).await;
    assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
}
