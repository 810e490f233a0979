//! The read cache of `GET /v1/products/{id}`: a write through the service
//! is seen at once, a change behind its back (another replica, a
//! reservation) within the TTL and not before, the ETag and 304 follow the
//! body served, a TTL of 0 turns it off, the hit/miss counter, and the two
//! variables refused when out of range.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode, header};
use product::Settings;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

/// Long enough that, within a test, only an invalidation can empty an
/// entry.
const FOREVER_MS: u64 = 60_000;

/// How long a test waits for an entry to expire before it gives up.
const PATIENCE: Duration = Duration::from_secs(10);

async fn spawn_cached(db: PgPool, ttl_ms: u64) -> TestApp {
    let settings = Settings {
        cache_ttl: Duration::from_millis(ttl_ms),
        ..Settings::default()
    };
    TestApp::spawn(db, settings).await
}

/// What another replica would do: change the row without this replica
/// knowing, bumping the version as every write does.
async fn change_behind_its_back(app: &TestApp, id: Uuid, stock: i32) {
    sqlx::query(
        "UPDATE products SET stock = $2, version = version + 1, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(stock)
    .execute(&app.db)
    .await
    .unwrap();
}

/// `product_cache_requests_total` for one `result` (hit or miss).
fn cache_requests(metrics: &str, result: &str) -> u64 {
    shop_common::testing::metric(
        metrics,
        "product_cache_requests_total",
        &[("result", result)],
    ) as u64
}

#[sqlx::test]
async fn a_patch_through_the_service_is_seen_by_the_next_read(db: PgPool) {
    let app = spawn_cached(db, FOREVER_MS).await;
    let id = id_of(&app.create_product("Kettle", "kitchen", 5).await);
    let path = format!("/v1/products/{id}");
    let before = app.get(&path).await;
    assert_eq!(before.header("etag"), Some("\"1\""));
    assert_eq!(app.get(&path).await.body, before.body, "now cached");

    for (change, field, value) in [
        (json!({"stock": 9}), "stock", json!(9)),
        (
            json!({"price": {"amount": 999, "currency": "EUR"}}),
            "price",
            json!({"amount": 999, "currency": "EUR"}),
        ),
        (json!({"name": "Big kettle"}), "name", json!("Big kettle")),
        (json!({"archived": true}), "archived", json!(true)),
    ] {
        let patched = app
            .with_admin()
            .call(Method::PATCH, &path, Some(change))
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        let after = app.get(&path).await;
        assert_eq!(
            after.body, patched.body,
            "{field}: the patched product, at once"
        );
        assert_eq!(after.body[field], value);
        assert_eq!(after.header("etag"), patched.header("etag"), "{field}");
    }
    assert_eq!(app.get(&path).await.header("etag"), Some("\"5\""));
}

/// "Another replica" changes the row: this replica keeps answering what it
/// read (the same body and ETag, from the cache) and shows the change once
/// the entry has lived its TTL. The default TTL, so this is the promise
/// the documentation makes.
#[sqlx::test]
async fn a_change_behind_its_back_is_seen_within_the_ttl_and_not_before(db: PgPool) {
    let app = spawn(db).await;
    assert_eq!(app.state.settings.cache_ttl, Duration::from_millis(1000));
    let id = id_of(&app.create_product("Mug", "kitchen", 5).await);
    let path = format!("/v1/products/{id}");
    let first = app.get(&path).await;
    change_behind_its_back(&app, id, 2).await;

    let hits = cache_requests(&app.metrics().await, "hit");
    let cached = app.get(&path).await;
    assert_eq!(cached.body, first.body, "the cached body");
    assert_eq!(cached.header("etag"), Some("\"1\""), "with its own ETag");
    assert_eq!(cache_requests(&app.metrics().await, "hit"), hits + 1);

    let started = Instant::now();
    let seen = loop {
        let resp = app.get(&path).await;
        if resp.body["stock"] == 2 {
            break resp;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the change was not seen within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(seen.header("etag"), Some("\"2\""));
    assert_eq!(seen.body["version"], 2);
}

/// Reservations change stock without invalidating: a cached read may show
/// the stock from before (at most a TTL old), while the list, never cached,
/// and the reservation itself are the authority.
#[sqlx::test]
async fn a_reservation_leaves_the_cache_and_the_list_shows_stock_of_now(db: PgPool) {
    let app = spawn_cached(db, FOREVER_MS).await;
    let id = id_of(&app.create_product("Lamp", "home", 5).await);
    let path = format!("/v1/products/{id}");
    assert_eq!(app.get(&path).await.body["stock"], 5);
    let reserved = app.reserve(Uuid::now_v7(), &[(id, 2)]).await;
    assert_eq!(reserved.status, StatusCode::CREATED, "{}", reserved.body);

    assert_eq!(app.get(&path).await.body["stock"], 5, "the cached answer");
    let listed = app.get(&format!("/v1/products?ids={id}")).await;
    assert_eq!(
        listed.body["items"][0]["stock"], 3,
        "the list reads the row"
    );
    assert_eq!(app.stock(id).await, 3);
}

/// The ETag always names the body this replica would serve: a 304 for the
/// cached version even after a change behind its back, and after a patch
/// through the service the old ETag gets the new body and ETag.
#[sqlx::test]
async fn etag_and_304_follow_the_cached_body(db: PgPool) {
    let app = spawn_cached(db, FOREVER_MS).await;
    let id = id_of(&app.create_product("Chair", "home", 4).await);
    let path = format!("/v1/products/{id}");
    let conditional = |etag: &str| {
        app.request(Method::GET, &path)
            .header(header::IF_NONE_MATCH, etag.to_owned())
    };
    let first = app.get(&path).await;
    let etag = first.header("etag").unwrap().to_owned();
    let resp = app.send(conditional(&etag)).await;
    assert_eq!(resp.status, StatusCode::NOT_MODIFIED);
    assert_eq!(resp.header("etag"), Some(etag.as_str()));

    // Behind its back: the cached version still answers, consistently.
    change_behind_its_back(&app, id, 1).await;
    let resp = app.send(conditional(&etag)).await;
    assert_eq!(resp.status, StatusCode::NOT_MODIFIED, "the cached version");
    assert_eq!(resp.header("etag"), Some(etag.as_str()));
    let resp = app.send(conditional("\"2\"")).await;
    assert_eq!(
        resp.status,
        StatusCode::OK,
        "the cache knows version 1 only"
    );
    assert_eq!(resp.header("etag"), Some(etag.as_str()));
    assert_eq!(resp.body, first.body);

    // Through the service: the cache is invalidated, the new version served.
    let patched = app
        .with_admin()
        .call(Method::PATCH, &path, Some(json!({"name": "Armchair"})))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.header("etag"), Some("\"3\""));
    let resp = app.send(conditional(&etag)).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.header("etag"), Some("\"3\""));
    assert_eq!(resp.body, patched.body);
    assert_eq!(resp.body["stock"], 1, "the other replica's change too");
    let resp = app.send(conditional("\"3\"")).await;
    assert_eq!(resp.status, StatusCode::NOT_MODIFIED);
}

#[sqlx::test]
async fn a_ttl_of_zero_turns_the_cache_off(db: PgPool) {
    let app = spawn_cached(db, 0).await;
    assert!(app.state.cache.is_none(), "no cache object at all");
    let id = id_of(&app.create_product("Vase", "home", 5).await);
    let path = format!("/v1/products/{id}");
    assert_eq!(app.get(&path).await.body["stock"], 5);
    change_behind_its_back(&app, id, 4).await;
    let resp = app.get(&path).await;
    assert_eq!(resp.body["stock"], 4, "read from the database");
    assert_eq!(resp.header("etag"), Some("\"2\""));
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains("product_cache_requests_total{"),
        "nothing counted: {metrics}"
    );
}

#[sqlx::test]
async fn hits_and_misses_are_counted(db: PgPool) {
    let app = spawn_cached(db, FOREVER_MS).await;
    let id = id_of(&app.create_product("Rug", "home", 5).await);
    let path = format!("/v1/products/{id}");
    let count = |metrics: String| {
        (
            cache_requests(&metrics, "hit"),
            cache_requests(&metrics, "miss"),
        )
    };
    assert_eq!(count(app.metrics().await), (0, 0));
    app.get(&path).await;
    assert_eq!(count(app.metrics().await), (0, 1), "the first read misses");
    app.get(&path).await;
    app.get(&path).await;
    assert_eq!(count(app.metrics().await), (2, 1), "then it hits");

    // A product that does not exist misses every time: 404s are not kept.
    let unknown = format!("/v1/products/{}", Uuid::now_v7());
    app.get(&unknown).await.assert_problem(404, "not-found");
    app.get(&unknown).await.assert_problem(404, "not-found");
    assert_eq!(count(app.metrics().await), (2, 3));

    // A patch invalidates: the next read misses once.
    app.with_admin()
        .call(Method::PATCH, &path, Some(json!({"stock": 1})))
        .await;
    app.get(&path).await;
    app.get(&path).await;
    assert_eq!(count(app.metrics().await), (3, 4));
}

fn settings_from(extra: &[(&str, &str)]) -> Result<Settings, String> {
    let mut env = env_with(extra);
    let config = product::Config::from_env(&mut env);
    env.finish(config)
        .map(|c| c.settings)
        .map_err(|e| e.to_string())
}

#[test]
fn cache_settings_default_and_bounds() {
    let d = settings_from(&[]).unwrap();
    assert_eq!(
        (d.cache_ttl, d.cache_capacity),
        (Duration::from_millis(1000), 10_000)
    );
    let off = settings_from(&[("PRODUCT_CACHE_TTL_MS", "0")]).unwrap();
    assert!(off.cache_ttl.is_zero());
    let most = settings_from(&[
        ("PRODUCT_CACHE_TTL_MS", "60000"),
        ("PRODUCT_CACHE_CAPACITY", "1"),
    ])
    .unwrap();
    assert_eq!(
        (most.cache_ttl, most.cache_capacity),
        (Duration::from_secs(60), 1)
    );
}

#[test]
fn bad_cache_settings_are_refused_at_start() {
    for (ttl, capacity) in [
        ("60001", "0"),
        ("-1", "-5"),
        ("soon", "many"),
        ("1.5", "1e3"),
    ] {
        let err = settings_from(&[
            ("PRODUCT_CACHE_TTL_MS", ttl),
            ("PRODUCT_CACHE_CAPACITY", capacity),
        ])
        .unwrap_err();
        assert!(
            err.contains("PRODUCT_CACHE_TTL_MS") && err.contains("PRODUCT_CACHE_CAPACITY"),
            "TTL {ttl:?}, capacity {capacity:?}: {err}"
        );
    }
    let err = settings_from(&[("PRODUCT_CACHE_TTL_MS", "60001")]).unwrap_err();
    assert!(err.contains("between 0 and 60000"), "{err}");
}
