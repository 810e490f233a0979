//! Many buyers at once through the order service: no oversell, no 5xx, no
//! deadlock reaching a client.

use std::collections::HashMap;

use futures::future::join_all;
use reqwest::StatusCode;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

#[sqlx::test]
async fn two_hundred_buyers_for_ten_units_make_exactly_ten_orders(db: PgPool) {
    let shop = Shop::start(db, true).await;
    let p = shop.new_product(10, 999).await;
    let users: Vec<String> = (0..200).map(|i| format!("buyer-{i}")).collect();
    let shop = &shop;
    join_all(
        users
            .iter()
            .map(|u| async move { shop.cart_of(u).set_quantity(p, 1).await.unwrap() }),
    )
    .await;

    let answers = join_all(users.iter().map(|u| shop.checkout_raw(u, Some("k"), "{}"))).await;
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for (status, _, body) in &answers {
        assert!(
            !status.is_server_error(),
            "{status}: {}",
            String::from_utf8_lossy(body)
        );
        if *status == StatusCode::CONFLICT {
            assert_eq!(json(body)["type"], "urn:shop:problem:out-of-stock");
        }
        *by_status.entry(status.as_u16()).or_default() += 1;
    }
    assert_eq!(by_status.get(&201), Some(&10), "{by_status:?}");
    assert_eq!(by_status.get(&409), Some(&190), "{by_status:?}");
    assert_eq!(shop.units(p).await, (0, 0, 10), "all sold, nothing held");
    let confirmed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'confirmed'")
            .fetch_one(&shop.state.db)
            .await
            .unwrap();
    assert_eq!(confirmed, 10);
}

#[sqlx::test]
async fn overlapping_multi_line_carts_never_deadlock_or_oversell(db: PgPool) {
    let shop = Shop::start(db, true).await;
    let a = shop.new_product(12, 100).await;
    let b = shop.new_product(12, 100).await;
    let c = shop.new_product(12, 100).await;
    // Each buyer wants a different overlapping pair, added in different orders.
    let shapes: [&[Uuid]; 4] = [&[a, b], &[b, c], &[c, a], &[c, b, a]];
    let users: Vec<(String, &[Uuid])> = (0..60)
        .map(|i| (format!("multi-{i}"), shapes[i % 4]))
        .collect();
    let shop = &shop;
    join_all(users.iter().map(|(u, wants)| async move {
        for p in wants.iter() {
            shop.cart_of(u).set_quantity(*p, 1).await.unwrap();
        }
    }))
    .await;

    let answers = join_all(
        users
            .iter()
            .map(|(u, _)| shop.checkout_raw(u, Some("k"), "{}")),
    )
    .await;
    let mut sold: HashMap<Uuid, i64> = HashMap::new();
    for ((status, _, body), (_, wants)) in answers.iter().zip(&users) {
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::CONFLICT,
            "{status}: {}",
            String::from_utf8_lossy(body)
        );
        if *status == StatusCode::CREATED {
            for p in wants.iter() {
                *sold.entry(*p).or_default() += 1;
            }
        }
    }
    for p in [a, b, c] {
        let (available, held, committed) = shop.units(p).await;
        assert_eq!(held, 0);
        assert_eq!(
            committed,
            *sold.get(&p).unwrap_or(&0),
            "what the orders say was sold"
        );
        assert_eq!(available + committed, 12, "units conserved");
        assert!(available >= 0);
    }
}
