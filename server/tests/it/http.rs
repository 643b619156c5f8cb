//! Health, routing, and malformed requests.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("x-request-id"), "every response carries a request id");
    let (status, body) = status_json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ready")));
}

#[tokio::test]
async fn unknown_endpoints_and_methods_answer_json() {
    let app = spawn_app().await;
    let (status, err) = status_json(app.client.get(app.url("/api/nope")).send().await.unwrap()).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    let (status, err) = status_json(app.client.get(app.url("/api/auth/login")).send().await.unwrap()).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn malformed_bodies_get_clear_errors() {
    let app = spawn_app().await;
    let post = |body: &'static str, content_type: &'static str| {
        app.client.post(app.url("/api/auth/signup")).header("content-type", content_type).body(body).send()
    };
    let (status, err) = status_json(post("{not json", "application/json").await.unwrap()).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "bad_request");
    let (status, err) = status_json(post("{}", "text/plain").await.unwrap()).await;
    assert_error(status, &err, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

    let huge = format!(r#"{{"email":"a@example.com","password":"{}","display_name":"x"}}"#, "p".repeat(100_000));
    let r = app
        .client
        .post(app.url("/api/auth/signup"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let (status, err) = status_json(r).await;
    assert_error(status, &err, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn serves_the_web_app_with_spa_fallback() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("index.html"), "<html>app</html>").unwrap();
    std::fs::write(dist.path().join("app.js"), "js").unwrap();
    let path = dist.path().to_path_buf();
    let app = spawn_app_with(move |s| s.web_dist = Some(path)).await;
    for (url, want) in [("/", "<html>app</html>"), ("/app.js", "js"), ("/profile", "<html>app</html>")] {
        let r = app.client.get(app.url(url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert_eq!(r.text().await.unwrap(), want, "{url}");
    }
    // The API keeps its own 404s.
    assert_eq!(app.client.get(app.url("/api/nope")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}
