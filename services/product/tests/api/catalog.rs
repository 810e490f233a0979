//! The public catalog: create, read with ETags, list with filters and
//! keyset pagination, patch with If-Match, archive.

use std::collections::HashSet;

use axum::http::{HeaderValue, Method, StatusCode, header};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

#[sqlx::test]
async fn create_then_get_round_trips_with_location_and_etag(db: PgPool) {
    let app = spawn(db).await;
    let resp = app
        .with_admin()
        .call(
            Method::POST,
            "/v1/products",
            Some(json!({
                "name": "Kettle",
                "description": "Boils water.",
                "category": "kitchen",
                "price": {"amount": 2499, "currency": "EUR"},
                "stock": 7
            })),
        )
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    let id = id_of(&resp.body);
    assert_eq!(id.get_version_num(), 7, "ids are UUID v7");
    assert_eq!(
        resp.header("location"),
        Some(format!("/v1/products/{id}").as_str())
    );
    assert_eq!(resp.header("etag"), Some("\"1\""));
    assert_eq!(
        resp.body["price"],
        json!({"amount": 2499, "currency": "EUR"})
    );

    let got = app.get(&format!("/v1/products/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, resp.body);
    assert_eq!(got.header("etag"), Some("\"1\""));
}

#[sqlx::test]
async fn if_none_match_answers_304_until_the_product_changes(db: PgPool) {
    let app = spawn(db).await;
    let id = id_of(&app.create_product("Mug", "kitchen", 1).await);
    let conditional = |etag: &str| {
        app.request(Method::GET, &format!("/v1/products/{id}"))
            .header(header::IF_NONE_MATCH, etag)
    };
    let resp = app.send(conditional("\"1\"")).await;
    assert_eq!(resp.status, StatusCode::NOT_MODIFIED);
    assert_eq!(resp.body, serde_json::Value::Null);

    let patched = app
        .with_admin()
        .call(
            Method::PATCH,
            &format!("/v1/products/{id}"),
            Some(json!({"name": "Big mug"})),
        )
        .await;
    assert_eq!(patched.header("etag"), Some("\"2\""));
    let resp = app.send(conditional("\"1\"")).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.body["name"], "Big mug");
}

#[sqlx::test]
async fn unknown_product_is_a_404_problem(db: PgPool) {
    let app = spawn(db).await;
    app.get(&format!("/v1/products/{}", Uuid::now_v7()))
        .await
        .assert_problem(404, "not-found");
}

#[sqlx::test]
async fn list_filters_by_category_name_and_ids(db: PgPool) {
    let app = spawn(db).await;
    let kettle = id_of(&app.create_product("Steel Kettle", "kitchen", 1).await);
    let pan = id_of(&app.create_product("Frying Pan", "kitchen", 1).await);
    let book = id_of(&app.create_product("Kettle Recipes", "books", 1).await);
    let _percent = app.create_product("100% Cotton", "home", 1).await;

    let ids = |resp: &Resp| -> Vec<Uuid> {
        resp.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect()
    };
    assert_eq!(
        ids(&app.get("/v1/products?category=kitchen").await),
        vec![kettle, pan]
    );
    assert_eq!(
        ids(&app.get("/v1/products?q=KETTLE").await),
        vec![kettle, book]
    );
    assert_eq!(
        ids(&app.get("/v1/products?category=books&q=kettle").await),
        vec![book]
    );
    assert_eq!(
        ids(&app.get(&format!("/v1/products?ids={book},{pan}")).await),
        vec![pan, book]
    );
    // Wildcards in q match literally.
    assert_eq!(ids(&app.get("/v1/products?q=%25").await).len(), 1);
    assert_eq!(ids(&app.get("/v1/products?q=_").await).len(), 0);
}

#[sqlx::test]
async fn archived_products_leave_lists_but_stay_readable(db: PgPool) {
    let app = spawn(db).await;
    let id = id_of(&app.create_product("Old lamp", "home", 1).await);
    let resp = app
        .with_admin()
        .call(
            Method::PATCH,
            &format!("/v1/products/{id}"),
            Some(json!({"archived": true})),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.body["archived"], true);
    let listed = app.get("/v1/products").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 0);
    let by_ids = app.get(&format!("/v1/products?ids={id}")).await;
    assert_eq!(by_ids.body["items"][0]["archived"], true);
    assert_eq!(
        app.get(&format!("/v1/products/{id}")).await.body["archived"],
        true
    );
}

#[sqlx::test]
async fn pages_have_no_duplicates_or_gaps_while_rows_are_inserted(db: PgPool) {
    let app = spawn(db).await;
    let mut before = HashSet::new();
    for i in 0..25 {
        before.insert(id_of(
            &app.create_product(&format!("Item {i}"), "misc", 1).await,
        ));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut inserted = 0;
    for page in 0..100 {
        let path = match &cursor {
            Some(c) => format!("/v1/products?limit=4&cursor={c}"),
            None => "/v1/products?limit=4".to_owned(),
        };
        let resp = app.get(&path).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
        let items = resp.body["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        seen.extend(items.iter().map(id_of));
        // Rows arrive between page reads, as they would in production.
        if page < 5 {
            app.create_product(&format!("Late {page}"), "misc", 1).await;
            inserted += 1;
        }
        match resp.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no product appears twice");
    assert!(
        before.is_subset(&unique),
        "every product present at the start is listed"
    );
    // Rows inserted during the walk have later ids, so they are listed too.
    assert_eq!(seen.len(), 25 + inserted);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, seen, "pages come in id order");
}

#[sqlx::test]
async fn patch_with_if_match_refuses_a_stale_version(db: PgPool) {
    let app = spawn(db).await;
    let id = id_of(&app.create_product("Chair", "home", 2).await);
    let patch = |etag: &'static str, name: &'static str| {
        app.with_admin()
            .request(Method::PATCH, &format!("/v1/products/{id}"))
            .header(header::IF_MATCH, etag)
            .json(&json!({"name": name, "price": {"amount": 5000, "currency": "EUR"}}))
    };
    let ok = app.send(patch("\"1\"", "Armchair")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["version"], 2);
    assert_eq!(ok.body["price"]["amount"], 5000);

    let stale = app.send(patch("\"1\"", "Stool")).await;
    stale.assert_problem(412, "precondition-failed");
    let now = app.get(&format!("/v1/products/{id}")).await;
    assert_eq!(
        now.body["name"], "Armchair",
        "a refused patch changes nothing"
    );
    assert_eq!(now.body["version"], 2);
}

#[sqlx::test]
async fn patch_of_unknown_product_is_404(db: PgPool) {
    let app = spawn(db).await;
    app.with_admin()
        .call(
            Method::PATCH,
            &format!("/v1/products/{}", Uuid::now_v7()),
            Some(json!({"stock": 3})),
        )
        .await
        .assert_problem(404, "not-found");
}

#[sqlx::test]
async fn invalid_products_get_422_naming_each_field_and_change_nothing(db: PgPool) {
    let app = spawn(db).await;
    let resp = app
        .with_admin()
        .call(
            Method::POST,
            "/v1/products",
            Some(json!({
                "name": "",
                "category": "Not A Slug",
                "price": {"amount": -1, "currency": "euro"},
                "stock": -5
            })),
        )
        .await;
    resp.assert_problem(422, "validation");
    let fields: Vec<&str> = resp.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "category",
            "price.amount",
            "price.currency",
            "stock"
        ]
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test]
async fn server_owned_fields_cannot_be_mass_assigned(db: PgPool) {
    let app = spawn(db).await;
    for extra in [
        json!({"id": Uuid::now_v7()}),
        json!({"version": 99}),
        json!({"archived": true}),
    ] {
        let mut body =
            json!({"name": "X", "category": "misc", "price": {"amount": 1, "currency": "EUR"}});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        app.with_admin()
            .call(Method::POST, "/v1/products", Some(body))
            .await
            .assert_problem(422, "validation");
    }
    let id = id_of(&app.create_product("Y", "misc", 1).await);
    app.with_admin()
        .call(
            Method::PATCH,
            &format!("/v1/products/{id}"),
            Some(json!({"version": 50})),
        )
        .await
        .assert_problem(422, "validation");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test]
async fn list_parameters_are_validated(db: PgPool) {
    let app = spawn(db).await;
    app.get("/v1/products?limit=0")
        .await
        .assert_problem(422, "validation");
    app.get("/v1/products?limit=101")
        .await
        .assert_problem(422, "validation");
    app.get("/v1/products?limit=abc")
        .await
        .assert_problem(400, "bad-request");
    app.get("/v1/products?cursor=zzz")
        .await
        .assert_problem(422, "validation");
    app.get("/v1/products?ids=not-a-uuid")
        .await
        .assert_problem(422, "validation");
    app.get("/v1/products?sort=name")
        .await
        .assert_problem(400, "bad-request");
    let page = app.get("/v1/products?limit=100").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.get("next_cursor").is_none());
}

/// `If-None-Match` as RFC 9110 has it: weak comparison, `*` for any
/// current version, a list matching when any member does; a value that
/// names nothing this service issued (garbage, an empty value, bytes that
/// are not text) is simply no match, never an error.
#[sqlx::test]
async fn if_none_match_compares_weakly_and_ignores_what_it_cannot_read(db: PgPool) {
    let app = spawn(db).await;
    let id = id_of(&app.create_product("Mug", "kitchen", 1).await);
    let conditional = |value: HeaderValue| {
        app.request(Method::GET, &format!("/v1/products/{id}"))
            .header(header::IF_NONE_MATCH, value)
    };
    for (value, status) in [
        (&b"\"1\""[..], StatusCode::NOT_MODIFIED),
        (b"W/\"1\"", StatusCode::NOT_MODIFIED),
        (b"\"9\", W/\"1\"", StatusCode::NOT_MODIFIED),
        (b"*", StatusCode::NOT_MODIFIED),
        (b"\"2\"", StatusCode::OK),
        (b"garbage", StatusCode::OK),
        (b"", StatusCode::OK),
        (b"\"1\xff\"", StatusCode::OK),
    ] {
        let resp = app
            .send(conditional(HeaderValue::from_bytes(value).unwrap()))
            .await;
        let shown = String::from_utf8_lossy(value);
        assert_eq!(resp.status, status, "If-None-Match: {shown}");
        assert_eq!(resp.header("etag"), Some("\"1\""), "If-None-Match: {shown}");
        if status == StatusCode::NOT_MODIFIED {
            assert_eq!(resp.body, serde_json::Value::Null, "a 304 has no body");
        } else {
            assert_eq!(resp.body["name"], "Mug");
        }
    }
}

/// `If-Match` as RFC 9110 has it: strong comparison of opaque tags, `*`
/// for any current version, a list matching when any member does. What
/// cannot match (a weak tag, garbage, a tag we never issued) is a 412
/// problem and changes nothing; an unknown product stays a 404.
#[sqlx::test]
async fn if_match_compares_strongly_and_refuses_what_cannot_match(db: PgPool) {
    let app = spawn(db).await;
    let id = id_of(&app.create_product("Chair", "home", 2).await);
    let patch = |path: String, value: &'static [u8], stock: i32| {
        app.with_admin()
            .request(Method::PATCH, &path)
            .header(header::IF_MATCH, HeaderValue::from_bytes(value).unwrap())
            .json(&json!({ "stock": stock }))
    };
    let path = format!("/v1/products/{id}");
    for value in [
        &b"W/\"1\""[..],
        b"garbage",
        b"\"2\"",
        // Entity tags are opaque strings: "01" is not "1".
        b"\"01\"",
        b"\"1\xff\"",
    ] {
        let shown = String::from_utf8_lossy(value);
        let resp = app.send(patch(path.clone(), value, 9)).await;
        resp.assert_problem(412, "precondition-failed");
        assert_eq!(app.stock(id).await, 2, "If-Match: {shown} changed nothing");
    }
    // Any member of a list may match, not only the first.
    let resp = app.send(patch(path.clone(), b"\"7\", \"1\"", 3)).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    assert_eq!(resp.header("etag"), Some("\"2\""));
    let resp = app.send(patch(path.clone(), b"*", 4)).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    assert_eq!(resp.body["version"], 3);
    assert_eq!(app.stock(id).await, 4);

    let unknown = format!("/v1/products/{}", Uuid::now_v7());
    for value in [&b"\"1\""[..], b"*"] {
        app.send(patch(unknown.clone(), value, 1))
            .await
            .assert_problem(404, "not-found");
    }
}
