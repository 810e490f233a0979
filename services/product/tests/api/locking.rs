//! Lock ordering under contention, seen by a client that never retries.
//!
//! The services call product through the resilient client, which retries
//! reserve (it is idempotent), so a PostgreSQL deadlock there would be an
//! aborted transaction, a 500 and a silent retry: the checkout tests would
//! pass. Here every request is sent once over a real socket with a plain
//! `reqwest::Client`, so a deadlock, or any other 5xx, fails the test.

use std::time::Duration;

use futures::future::join_all;
use shop_api::product::{Reservation, ReservationLineRequest, ReservationRequest};
use shop_api::{ClientError, ProblemType, ProductClient};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use crate::helpers::*;

/// Product served on a loopback port, over a pool with room for every
/// transaction of a burst to be open at once (so they really contend for
/// row locks instead of queueing for connections).
async fn serve_product(conn: PgConnectOptions) -> (TestApp, PgPool) {
    let db = PgPoolOptions::new()
        .max_connections(40)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(conn)
        .await
        .unwrap();
    (spawn(db.clone()).await, db)
}

/// The internal API as the order service sees it, minus the retries: one
/// attempt per call, whatever the answer.
fn service(served: &TestApp) -> ProductClient {
    ProductClient::new(reqwest::Client::new(), &served.url).with_bearer(TEST_INTERNAL_TOKEN)
}

async fn new_product(served: &TestApp, stock: i32) -> Uuid {
    ProductClient::new(reqwest::Client::new(), &served.url)
        .with_bearer(admin_token())
        .create(&shop_api::product::NewProduct {
            name: "Contended".into(),
            description: String::new(),
            category: "misc".into(),
            price: shop_api::Money::new(500, "EUR"),
            stock,
        })
        .await
        .unwrap()
        .body
        .id
}

fn request(id: Uuid, lines: &[(Uuid, i32)]) -> ReservationRequest {
    ReservationRequest {
        id,
        lines: lines
            .iter()
            .map(|&(product_id, quantity)| ReservationLineRequest {
                product_id,
                quantity,
            })
            .collect(),
        commit: false,
    }
}

/// What one reserve call came to.
#[derive(Debug)]
enum Reply {
    Created(Box<Reservation>),
    Replayed(Box<Reservation>),
    OutOfStock,
    Mismatch,
    /// Anything else: a 5xx (a deadlock surfaces as a 500), a transport
    /// error, an undocumented answer. Always a failure here.
    Unexpected(String),
}

fn reply(result: Result<shop_api::client::Tagged<Reservation>, ClientError>) -> Reply {
    match result {
        Ok(t) if t.status == reqwest::StatusCode::CREATED => Reply::Created(Box::new(t.body)),
        Ok(t) if t.status == reqwest::StatusCode::OK => Reply::Replayed(Box::new(t.body)),
        Err(ClientError::Problem(p)) if p.kind() == Some(ProblemType::OutOfStock) => {
            Reply::OutOfStock
        }
        Err(ClientError::Problem(p)) if p.kind() == Some(ProblemType::IdempotencyMismatch) => {
            Reply::Mismatch
        }
        other => Reply::Unexpected(format!("{other:?}")),
    }
}

#[track_caller]
fn assert_no_unexpected(replies: &[Reply]) {
    let unexpected: Vec<&str> = replies
        .iter()
        .filter_map(|r| match r {
            Reply::Unexpected(what) => Some(what.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} of {} answers were neither a success nor a documented refusal: {unexpected:#?}",
        unexpected.len(),
        replies.len()
    );
}

#[sqlx::test]
async fn overlapping_reservations_in_opposite_orders_never_deadlock(
    _pool: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let (served, db) = serve_product(conn).await;
    let client = service(&served);
    let products = [
        new_product(&served, 25).await,
        new_product(&served, 25).await,
        new_product(&served, 25).await,
    ];
    let [a, b, c] = products;
    // The same three products, listed in opposite orders (and one more
    // order): were rows locked in request order, two of these would each
    // hold a row the other waits for.
    let orders = [[a, b, c], [c, b, a], [b, c, a]];

    // Round 1: 40 reservations of one unit of each for 25 units of each.
    // All or nothing over the same three products, so exactly 25 succeed.
    let round1 = join_all((0..40).map(|i| {
        let client = client.clone();
        let lines: Vec<(Uuid, i32)> = orders[i % orders.len()].iter().map(|&p| (p, 1)).collect();
        async move { reply(client.reserve(&request(Uuid::now_v7(), &lines)).await) }
    }))
    .await;
    assert_no_unexpected(&round1);
    let created: Vec<Uuid> = round1
        .iter()
        .filter_map(|r| match r {
            Reply::Created(r) => Some(r.id),
            _ => None,
        })
        .collect();
    let refused = round1
        .iter()
        .filter(|r| matches!(r, Reply::OutOfStock))
        .count();
    assert_eq!(created.len(), 25, "exactly the stock is reserved");
    assert_eq!(refused, 15);
    for p in products {
        assert_eq!(accounted_units(&db, p).await, (0, 25, 0));
    }

    // Round 2, all at once: 10 of those released and 10 committed (both
    // lock the reservation, then the products in id order) while 20 new
    // reservations in opposite orders compete for the released units.
    let (release, rest) = created.split_at(10);
    let (commit, _kept) = rest.split_at(10);
    let releases = join_all(release.iter().map(|&id| {
        let client = client.clone();
        async move { client.release(id).await.map(|r| r.status) }
    }));
    let commits = join_all(commit.iter().map(|&id| {
        let client = client.clone();
        async move { client.commit(id).await.map(|r| r.status) }
    }));
    let reserves = join_all((0..20).map(|i| {
        let client = client.clone();
        let lines: Vec<(Uuid, i32)> = orders[i % orders.len()].iter().map(|&p| (p, 1)).collect();
        async move { reply(client.reserve(&request(Uuid::now_v7(), &lines)).await) }
    }));
    let (released, committed, round2) = tokio::join!(releases, commits, reserves);
    for r in &released {
        assert!(
            matches!(r, Ok(shop_api::product::ReservationStatus::Released)),
            "{r:?}"
        );
    }
    for r in &committed {
        assert!(
            matches!(r, Ok(shop_api::product::ReservationStatus::Committed)),
            "{r:?}"
        );
    }
    assert_no_unexpected(&round2);
    let late = round2
        .iter()
        .filter(|r| matches!(r, Reply::Created(_)))
        .count() as i64;
    let late_refused = round2
        .iter()
        .filter(|r| matches!(r, Reply::OutOfStock))
        .count() as i64;
    assert_eq!(late + late_refused, 20);
    // Only the released units were free: how many of the late ones got some
    // depends on who came first, but not what the books say about it.
    assert!(late <= 10, "{late} reservations for 10 released units");
    for p in products {
        assert_eq!(
            accounted_units(&db, p).await,
            (10 - late, 5 + late, 10),
            "25 units of each, accounted for"
        );
    }
}

#[sqlx::test]
async fn concurrent_reserves_with_one_id_take_stock_once(
    _pool: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let (served, db) = serve_product(conn).await;
    let client = service(&served);
    let a = new_product(&served, 10).await;
    let b = new_product(&served, 10).await;
    let id = Uuid::now_v7();
    // Twenty retries of one reservation racing each other, half of them
    // listing the lines the other way round (the same request), and ten
    // more reusing the id for other lines (a different request).
    let same: [&[(Uuid, i32)]; 2] = [&[(a, 1), (b, 2)], &[(b, 2), (a, 1)]];
    let other: &[(Uuid, i32)] = &[(a, 3)];
    let mut requests: Vec<&[(Uuid, i32)]> = (0..20).map(|i| same[i % 2]).collect();
    requests.extend(std::iter::repeat_n(other, 10));
    let replies = join_all(requests.iter().map(|lines| {
        let client = client.clone();
        async move { reply(client.reserve(&request(id, lines)).await) }
    }))
    .await;
    assert_no_unexpected(&replies);

    // Exactly one of them made the reservation, whichever came first; every
    // other request with its lines replays it, every one with the other
    // lines is refused.
    let winners: Vec<&Reservation> = replies
        .iter()
        .filter_map(|r| match r {
            Reply::Created(r) => Some(&**r),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "{replies:#?}");
    let winner = winners[0];
    let replayed: Vec<&Reservation> = replies
        .iter()
        .filter_map(|r| match r {
            Reply::Replayed(r) => Some(&**r),
            _ => None,
        })
        .collect();
    let mismatched = replies
        .iter()
        .filter(|r| matches!(r, Reply::Mismatch))
        .count();
    let won_with_same = winner.lines.len() == 2;
    let (with_winner, against) = if won_with_same { (20, 10) } else { (10, 20) };
    assert_eq!(replayed.len(), with_winner - 1, "{replies:#?}");
    assert_eq!(mismatched, against, "{replies:#?}");
    for r in &replayed {
        assert_eq!(*r, winner, "a replay is the first answer");
    }

    // The stock was taken once, by the winner's lines.
    if won_with_same {
        assert_eq!(accounted_units(&db, a).await, (9, 1, 0));
        assert_eq!(accounted_units(&db, b).await, (8, 2, 0));
    } else {
        assert_eq!(accounted_units(&db, a).await, (7, 3, 0));
        assert_eq!(accounted_units(&db, b).await, (10, 0, 0));
    }
}
