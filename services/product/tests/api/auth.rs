//! The auth matrix: which credentials open which routes.

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use shop_api::auth::{DEV_AUDIENCE, DEV_ISSUER, dev};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

const UNTRUSTED_KEY: &str = include_str!("../../../../dev/keys/untrusted-test-private.pem");

fn claims(overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "sub": "mallory",
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "exp": now + 600,
        "iat": now,
        "roles": ["admin"],
    });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn signed(overrides: Value) -> String {
    dev::sign(&claims(overrides), dev::DEV_PRIVATE_KEY_PEM).unwrap()
}

fn alg_none() -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    format!("{header}.{body}.")
}

fn new_product() -> Value {
    json!({"name": "Desk", "category": "home", "price": {"amount": 100, "currency": "EUR"}})
}

#[sqlx::test]
async fn admin_writes_refuse_every_bad_token_with_401(db: PgPool) {
    let app = spawn(db).await;
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("garbage", Some("not.a.jwt".into())),
        (
            "bad signature",
            Some(dev::sign(&claims(json!({})), UNTRUSTED_KEY).unwrap()),
        ),
        ("expired", Some(signed(json!({"exp": now - 3600})))),
        (
            "wrong audience",
            Some(signed(json!({"aud": "someone-else"}))),
        ),
        ("wrong issuer", Some(signed(json!({"iss": "evil"})))),
        ("alg none", Some(alg_none())),
        ("no sub", Some(signed(json!({"sub": null})))),
        ("no exp", Some(signed(json!({"exp": null})))),
        ("empty sub", Some(signed(json!({"sub": ""})))),
        ("service credential", Some(TEST_INTERNAL_TOKEN.into())),
    ];
    for (case, token) in cases {
        let resp = app
            .with_optional_token(token.as_deref())
            .call(Method::POST, "/v1/products", Some(new_product()))
            .await;
        assert_eq!(
            resp.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {}",
            resp.body
        );
        resp.assert_problem(401, "unauthorized");
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"), "{case}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "no refused request created anything");
}

#[sqlx::test]
async fn user_tokens_get_403_on_admin_routes(db: PgPool) {
    let app = spawn(db).await;
    let user = user_token("alice");
    app.with_token(&user)
        .call(Method::POST, "/v1/products", Some(new_product()))
        .await
        .assert_problem(403, "forbidden");
    let id = id_of(&app.create_product("Lamp", "home", 1).await);
    app.with_token(&user)
        .call(
            Method::PATCH,
            &format!("/v1/products/{id}"),
            Some(json!({"stock": 0})),
        )
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(app.stock(id).await, 1);
    // An admin token signed by our key passes.
    let ok = app
        .with_token(signed(json!({})))
        .call(Method::POST, "/v1/products", Some(new_product()))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
}

#[sqlx::test]
async fn internal_routes_take_only_the_service_credential(db: PgPool) {
    let app = spawn(db).await;
    let product = id_of(&app.create_product("Pen", "office", 5).await);
    let body = json!({"id": Uuid::now_v7(), "lines": [{"product_id": product, "quantity": 1}]});
    let cases = [
        (None, 401, "unauthorized"),
        (
            Some("wrong-credential-of-sufficient-length-xxxx".to_owned()),
            401,
            "unauthorized",
        ),
        (Some(user_token("alice")), 403, "forbidden"),
        (Some(admin_token()), 403, "forbidden"),
    ];
    for (token, status, slug) in cases {
        let resp = app
            .with_optional_token(token.as_deref())
            .call(
                Method::POST,
                "/internal/v1/reservations",
                Some(body.clone()),
            )
            .await;
        resp.assert_problem(status, slug);
        let get = app
            .with_optional_token(token.as_deref())
            .call(
                Method::GET,
                &format!("/internal/v1/reservations/{}", Uuid::now_v7()),
                None,
            )
            .await;
        get.assert_problem(status, slug);
    }
    assert_eq!(
        app.stock(product).await,
        5,
        "refused reservations take nothing"
    );
    let ok = app
        .with_service()
        .call(Method::POST, "/internal/v1/reservations", Some(body))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
}

#[sqlx::test]
async fn reads_are_public(db: PgPool) {
    let app = spawn(db).await;
    let id = id_of(&app.create_product("Cup", "kitchen", 1).await);
    assert_eq!(app.get("/v1/products").await.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/v1/products/{id}")).await.status,
        StatusCode::OK
    );
}
