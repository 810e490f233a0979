//! Concurrency over real sockets: many clients racing for little stock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use shop_api::ProductClient;
use shop_api::product::{ReservationLineRequest, ReservationRequest};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use crate::helpers::*;

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

    // Sample the conservation law while the race runs.
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (db, running) = (db.clone(), running.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while running.load(Ordering::SeqCst) && samples.len() < 10_000 {
                samples.push(accounted_units(&db, product.id).await);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            samples
        })
    };

    let service =
        ProductClient::new(reqwest::Client::new(), &base).with_bearer(TEST_INTERNAL_TOKEN);
    let attempts = (0..200).map(|_| {
        let service = service.clone();
        async move {
            service
                .reserve(&ReservationRequest {
                    id: Uuid::now_v7(),
                    lines: vec![ReservationLineRequest {
                        product_id: product.id,
                        quantity: 1,
                    }],
                })
                .await
        }
    });
    let results = join_all(attempts).await;
    running.store(false, Ordering::SeqCst);
    let samples = sampler.await.unwrap();

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
    assert_eq!(out_of_stock, 190);
    assert_eq!(accounted_units(&db, product.id).await, (0, 10, 0));
    assert!(!samples.is_empty());
    for (stock, held, committed) in &samples {
        assert!(*stock >= 0);
        assert_eq!(
            stock + held + committed,
            10,
            "units conserved at every sample: {samples:?}"
        );
    }
    app.shutdown().await.unwrap();
}
