//! User journeys through the running stack's public API.

use e2e::{Stack, unique};
use shop_api::Money;
use shop_api::product::{
    ListProducts, NewProduct, ProductPatch, ReservationLineRequest, ReservationRequest,
};

fn new_product(stock: i32) -> NewProduct {
    NewProduct {
        name: unique("E2E teapot"),
        description: "made by the end-to-end suite".into(),
        category: "e2e".into(),
        price: Money::new(2999, "EUR"),
        stock,
    }
}

#[tokio::test]
async fn an_admin_lists_a_new_product_and_shoppers_find_it() {
    let stack = Stack::from_env();
    let created = stack
        .products_as_admin()
        .create(&new_product(5))
        .await
        .unwrap();
    assert_eq!(created.status, 201);
    let id = created.body.id;

    let found = stack
        .products()
        .list(&ListProducts {
            q: Some(created.body.name.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].id, id);

    let got = stack.products().get(id).await.unwrap();
    assert_eq!(got.body.price, Money::new(2999, "EUR"));
    let etag = got.etag.expect("ETag");

    // A stale If-Match loses; the current one wins.
    let patch = ProductPatch {
        price: Some(Money::new(2499, "EUR")),
        ..Default::default()
    };
    stack
        .products_as_admin()
        .patch(id, &patch, Some(&etag))
        .await
        .unwrap();
    let stale = stack
        .products_as_admin()
        .patch(id, &patch, Some(&etag))
        .await
        .unwrap_err();
    assert_eq!(stale.problem().map(|p| p.status), Some(412));
}

#[tokio::test]
async fn shoppers_cannot_write_the_catalog() {
    let stack = Stack::from_env();
    let as_user = stack.products().with_bearer(e2e::user_token("e2e-shopper"));
    let err = as_user.create(&new_product(1)).await.unwrap_err();
    assert_eq!(err.problem().map(|p| p.status), Some(403));
    let err = stack.products().create(&new_product(1)).await.unwrap_err();
    assert_eq!(err.problem().map(|p| p.status), Some(401));
}

#[tokio::test]
async fn a_reservation_takes_stock_and_a_release_returns_it() {
    let stack = Stack::from_env();
    let Some(service) = stack.products_as_service() else {
        // Without the service credential the suite is behind a gateway,
        // which must not route the internal API at all.
        let resp = stack
            .http
            .post(format!("{}/internal/v1/reservations", stack.product_url))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "the gateway must not route /internal");
        return;
    };
    let product = stack
        .products_as_admin()
        .create(&new_product(3))
        .await
        .unwrap()
        .body;
    let request = ReservationRequest {
        id: uuid::Uuid::now_v7(),
        lines: vec![ReservationLineRequest {
            product_id: product.id,
            quantity: 2,
        }],
        commit: false,
    };
    let reserved = service.reserve(&request).await.unwrap();
    assert_eq!(reserved.status, 201);
    assert_eq!(reserved.body.lines[0].unit_price, Money::new(2999, "EUR"));
    // Stock of now, not a cached read: reservations leave the cache alone.
    assert_eq!(stack.stock(product.id).await, 1);
    // A retry of the same request is answered from the first.
    assert_eq!(service.reserve(&request).await.unwrap().status, 200);
    service.release(request.id).await.unwrap();
    assert_eq!(stack.stock(product.id).await, 3);
}

#[tokio::test]
async fn errors_are_problem_json_with_a_request_id() {
    let stack = Stack::from_env();
    let resp = stack
        .http
        .get(format!("{}/v1/products/not-a-uuid", stack.product_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "urn:shop:problem:bad-request");
    assert_eq!(body["request_id"], request_id);
}
