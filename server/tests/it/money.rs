//! Balances and administrators' adjustments: exact, idempotent, audited.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn adjust(app: &TestApp, admin: &Session, user: i64, body: Value) -> (StatusCode, Value) {
    status_json(app.send_auth(Method::POST, &format!("/api/admin/users/{user}/adjustments"), &admin.access, body).await)
        .await
}

async fn balance(app: &TestApp, s: &Session) -> Value {
    let (status, b) = status_json(app.get_auth("/api/me/balance", &s.access).await).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b
}

#[tokio::test]
async fn a_new_user_has_nothing_and_adjustments_move_exact_amounts() {
    let app = spawn_app().await;
    let u = app.new_user("u@example.com").await;
    let id = u.user["id"].as_i64().unwrap();
    let admin = app.admin().await;
    assert_eq!(balance(&app, &u).await, json!({"balance_micros": 0, "credit_limit_micros": 0, "available_micros": 0}));

    let (status, b) = adjust(&app, &admin, id, json!({"amount": "20.00", "reason": "welcome credit"})).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(b["balance_micros"], 20_000_000);
    let (_, b) = adjust(&app, &admin, id, json!({"amount": "-0.000001", "reason": "rounding fix"})).await;
    assert_eq!(b["balance_micros"], 19_999_999);
    assert_eq!(balance(&app, &u).await["balance_micros"], 19_999_999);

    let (status, page) = status_json(app.get_auth("/api/me/ledger", &u.access).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["amount_micros"], -1, "newest first");
    assert_eq!(
        (page["items"][1]["kind"].as_str(), page["items"][1]["description"].as_str()),
        (Some("adjustment"), Some("welcome credit"))
    );

    let (status, b) = status_json(
        app.send_auth(
            Method::PUT,
            &format!("/api/admin/users/{id}/credit-limit"),
            &admin.access,
            json!({"credit_limit": "5"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (b["credit_limit_micros"].as_i64(), b["available_micros"].as_i64()),
        (Some(5_000_000), Some(24_999_999))
    );
}

#[tokio::test]
async fn the_same_idempotency_key_is_posted_once_even_concurrently() {
    let app = spawn_app().await;
    let u = app.new_user("u@example.com").await;
    let id = u.user["id"].as_i64().unwrap();
    let admin = app.admin().await;
    let body = json!({"amount": "10", "reason": "refund for a dropped call", "idempotency_key": "retry-me"});
    let tries = (0..20).map(|_| adjust(&app, &admin, id, body.clone()));
    let results = futures_util::future::join_all(tries).await;
    let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(|(s, b)| s.is_success() && b["balance_micros"] == 10_000_000), "{results:?}");
    assert_eq!(balance(&app, &u).await["balance_micros"], 10_000_000);
    // The same key for another user is another posting.
    let other = app.new_user("o@example.com").await;
    let (status, _) = adjust(&app, &admin, other.user["id"].as_i64().unwrap(), body).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn bad_adjustments_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let u = app.new_user("u@example.com").await;
    let id = u.user["id"].as_i64().unwrap();
    let admin = app.admin().await;
    let cases = [
        (json!({"amount": "1", "reason": "  "}), "reason"),
        (json!({"amount": "abc", "reason": "x"}), "amount"),
        (json!({"amount": "0.0000001", "reason": "x"}), "amount"),
        (json!({"amount": "0", "reason": "x"}), "amount"),
        (json!({"amount": "1000000.000001", "reason": "x"}), "amount"),
        (json!({"amount": "1", "reason": "r".repeat(201)}), "reason"),
        (json!({"amount": "1", "reason": "x", "idempotency_key": "no spaces"}), "idempotency_key"),
    ];
    for (body, field) in cases {
        let (status, err) = adjust(&app, &admin, id, body.clone()).await;
        let fields = assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(fields.contains_key(field), "{field} for {body}: {err}");
    }
    let (status, err) = adjust(&app, &admin, 424_242, json!({"amount": "1", "reason": "x"})).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    let (status, err) = status_json(
        app.send_auth(
            Method::PUT,
            &format!("/api/admin/users/{id}/credit-limit"),
            &admin.access,
            json!({"credit_limit": "-1"}),
        )
        .await,
    )
    .await;
    assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(balance(&app, &u).await, json!({"balance_micros": 0, "credit_limit_micros": 0, "available_micros": 0}));
    let (_, page) = status_json(app.get_auth("/api/me/ledger", &u.access).await).await;
    assert_eq!(page["total"], 0);
}
