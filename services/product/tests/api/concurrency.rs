//! Concurrency over real sockets: many clients racing for little stock.

use std::time::Duration;

use futures::future::join_all;
use shop_api::ProductClient;
use shop_api::product::{ReservationLineRequest, ReservationRequest};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use crate::helpers::*;

/// The buyers racing for the ten units.
const CLIENTS: usize = 200;

#[sqlx::test]
async fn two_hundred_buyers_for_ten_units_never_oversell(
    _pool: PgPoolOptions,
    conn: PgConnectOptions,
) {
    // A pool with room to queue: 200 requests share 20 connections.
    let db = PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(conn)
        .await
        .unwrap();
    let app = spawn(db.clone()).await;
    let base = app.url.clone();

    let admin = ProductClient::new(reqwest::Client::new(), &base).with_bearer(admin_token());
    let product = admin
        .create(&shop_api::product::NewProduct {
            name: "Limited edition".into(),
            description: String::new(),
            category: "misc".into(),
            price: shop_api::Money::new(999, "EUR"),
            stock: 10,
        })
        .await
        .unwrap()
        .body;

    // Every client checks the conservation law as soon as its own
    // reservation is answered, while other clients' requests are still in
    // flight: a known number of samples (one per client, asserted below),
    // spread over the answers, so a moment when units are neither on the
    // shelf nor in a reservation has 200 chances to be seen. A sampler on
    // a timer took however many samples the machine's speed allowed (five
    // to eight here); one before each reservation would only see the
    // untouched shelf, since every client starts at once.
    let service =
        ProductClient::new(reqwest::Client::new(), &base).with_bearer(TEST_INTERNAL_TOKEN);
    let attempts = (0..CLIENTS).map(|_| {
        let (service, db) = (service.clone(), db.clone());
        async move {
            let result = service
                .reserve(&ReservationRequest {
                    id: Uuid::now_v7(),
                    lines: vec![ReservationLineRequest {
                        product_id: product.id,
                        quantity: 1,
                    }],
                    commit: false,
                })
                .await;
            (result, accounted_units(&db, product.id).await)
        }
    });
    let (results, samples): (Vec<_>, Vec<_>) = join_all(attempts).await.into_iter().unzip();

    let mut created = 0;
    let mut out_of_stock = 0;
    for r in &results {
        match r {
            Ok(t) if t.status == reqwest::StatusCode::CREATED => created += 1,
            Err(shop_api::ClientError::Problem(p))
                if p.status == 409 && p.type_.ends_with("out-of-stock") =>
            {
                out_of_stock += 1
            }
            other => panic!("unexpected answer: {other:?}"),
        }
    }
    assert_eq!(created, 10, "exactly the stock is sold");
    assert_eq!(out_of_stock, CLIENTS - 10);
    assert_eq!(accounted_units(&db, product.id).await, (0, 10, 0));
    assert_eq!(samples.len(), CLIENTS, "one sample per client");
    for (stock, held, committed) in &samples {
        assert!(*stock >= 0, "stock never negative: {samples:?}");
        assert_eq!(
            stock + held + committed,
            10,
            "units conserved at every sample: {samples:?}"
        );
    }
    app.shutdown().await.unwrap();
}
