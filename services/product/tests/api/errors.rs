//! Every error leaves as problem+json with the request id: handler errors,
//! axum's rejections, the fallbacks and the platform's limits.

use axum::http::{Method, StatusCode, header};
use serde_json::json;
use shop_common::server::HttpConfig;
use sqlx::PgPool;

use crate::helpers::*;

fn post_products(
    app: &TestApp,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    let mut req = app.with_admin().request(Method::POST, "/v1/products");
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    req.body(body)
}

#[sqlx::test]
async fn malformed_json_is_400(db: PgPool) {
    let app = spawn(db).await;
    let resp = app
        .send(post_products(&app, Some("application/json"), "{\"name\": "))
        .await;
    resp.assert_problem(400, "bad-request");
    assert!(
        resp.body["detail"].as_str().unwrap().contains("JSON"),
        "{}",
        resp.body
    );
}

#[sqlx::test]
async fn unknown_or_missing_fields_are_422(db: PgPool) {
    let app = spawn(db).await;
    let body = json!({"name": "A", "category": "misc", "price": {"amount": 1, "currency": "EUR"}, "colour": "red"});
    let resp = app
        .send(post_products(
            &app,
            Some("application/json"),
            body.to_string(),
        ))
        .await;
    resp.assert_problem(422, "validation");
    assert!(
        resp.body["detail"].as_str().unwrap().contains("colour"),
        "{}",
        resp.body
    );
    let resp = app
        .send(post_products(
            &app,
            Some("application/json"),
            "{\"name\": \"A\"}",
        ))
        .await;
    resp.assert_problem(422, "validation");
}

#[sqlx::test]
async fn wrong_or_missing_content_type_is_415(db: PgPool) {
    let app = spawn(db).await;
    app.send(post_products(&app, None, "{}"))
        .await
        .assert_problem(415, "unsupported-media-type");
    app.send(post_products(&app, Some("text/plain"), "{}"))
        .await
        .assert_problem(415, "unsupported-media-type");
}

#[sqlx::test]
async fn bodies_over_the_limit_are_413(db: PgPool) {
    let app = spawn(db).await;
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024));
    app.send(post_products(&app, Some("application/json"), huge))
        .await
        .assert_problem(413, "payload-too-large");
}

#[sqlx::test]
async fn bad_path_parameters_are_400(db: PgPool) {
    let app = spawn(db).await;
    app.get("/v1/products/not-a-uuid")
        .await
        .assert_problem(400, "bad-request");
}

#[sqlx::test]
async fn unknown_routes_are_404_and_wrong_methods_405(db: PgPool) {
    let app = spawn(db).await;
    let resp = app.get("/v2/nothing/here").await;
    resp.assert_problem(404, "not-found");
    assert_eq!(resp.body["instance"], "/v2/nothing/here");
    let resp = app.call(Method::DELETE, "/v1/products", None).await;
    resp.assert_problem(405, "method-not-allowed");
    assert!(resp.header("allow").unwrap().contains("GET"));
}

#[sqlx::test]
async fn a_client_request_id_is_echoed(db: PgPool) {
    let app = spawn(db).await;
    let req = app
        .request(Method::GET, "/v1/products/nope")
        .header("x-request-id", "abc-123");
    let resp = app.send(req).await;
    assert_eq!(resp.header("x-request-id"), Some("abc-123"));
    assert_eq!(resp.body["request_id"], "abc-123");
    let ok = app.get("/v1/products").await;
    assert!(ok.header("x-request-id").is_some(), "generated when absent");
}

#[sqlx::test]
async fn slow_requests_time_out_with_a_503_problem(db: PgPool) {
    // A 1 ms deadline against a request that must query the database.
    let http = HttpConfig {
        request_timeout: std::time::Duration::from_millis(1),
        ..HttpConfig::default()
    };
    let app = spawn_with(db.clone(), product::Settings::default(), http).await;
    // Hold a lock the list query has to wait for, so it cannot be quick.
    let mut tx = db.begin().await.unwrap();
    sqlx::query("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let resp = app.get("/v1/products").await;
    resp.assert_problem(503, "timeout");
    assert_eq!(resp.header("retry-after"), Some("1"));
    tx.rollback().await.unwrap();
}

#[sqlx::test]
async fn database_errors_never_leak_into_the_body(db: PgPool) {
    let app = spawn(db.clone()).await;
    // Break the table under the service: the query fails inside PostgreSQL.
    sqlx::query("ALTER TABLE products RENAME COLUMN name TO title")
        .execute(&db)
        .await
        .unwrap();
    let resp = app.get("/v1/products").await;
    resp.assert_problem(500, "internal");
    // Everything but the request path we sent.
    let mut body = resp.body.clone();
    body.as_object_mut().unwrap().remove("instance");
    let text = body.to_string();
    for leak in ["column", "products", "SELECT", "sqlx", "name"] {
        assert!(!text.contains(leak), "500 body leaks {leak:?}: {text}");
    }
    assert!(resp.body.get("detail").is_none());
}

#[sqlx::test]
async fn openapi_document_describes_every_route(db: PgPool) {
    let app = spawn(db).await;
    let resp = app.get("/openapi.json").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = resp.body["paths"].as_object().unwrap();
    for path in [
        "/v1/products",
        "/v1/products/{id}",
        "/internal/v1/reservations",
        "/internal/v1/reservations/{id}",
        "/internal/v1/reservations/{id}/commit",
        "/internal/v1/reservations/{id}/release",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    assert!(resp.body["components"]["schemas"]["Problem"].is_object());
}
