//! Stock reservations: all-or-nothing, idempotent, priced, committed,
//! released and expired.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shop_common::server::HttpConfig;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

#[sqlx::test]
async fn reserving_takes_stock_and_returns_authoritative_prices(db: PgPool) {
    let app = spawn(db).await;
    let a = id_of(&app.create_product("A", "misc", 5).await);
    let b = id_of(&app.create_product("B", "misc", 5).await);
    let rid = Uuid::now_v7();
    // Lines out of order: the answer lists them sorted by product id.
    let resp = app.reserve(rid, &[(b, 2), (a, 1)]).await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    assert_eq!(resp.body["status"], "held");
    assert_eq!(resp.body["lines"][0]["product_id"], a.to_string());
    assert_eq!(resp.body["lines"][1]["quantity"], 2);
    assert_eq!(
        resp.body["lines"][0]["unit_price"],
        json!({"amount": 1250, "currency": "EUR"})
    );
    assert_eq!(app.stock(a).await, 4);
    assert_eq!(app.stock(b).await, 3);
    let got = app
        .with_service()
        .call(
            Method::GET,
            &format!("/internal/v1/reservations/{rid}"),
            None,
        )
        .await;
    assert_eq!(got.body, resp.body);
}

#[sqlx::test]
async fn same_id_replays_and_other_lines_are_refused(db: PgPool) {
    let app = spawn(db).await;
    let a = id_of(&app.create_product("A", "misc", 5).await);
    let rid = Uuid::now_v7();
    let first = app.reserve(rid, &[(a, 2)]).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let replay = app.reserve(rid, &[(a, 2)]).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.body, first.body);
    app.reserve(rid, &[(a, 3)])
        .await
        .assert_problem(422, "idempotency-mismatch");
    assert_eq!(app.stock(a).await, 3, "stock taken exactly once");
}

#[sqlx::test]
async fn out_of_stock_takes_nothing_and_names_the_products(db: PgPool) {
    let app = spawn(db).await;
    let plenty = id_of(&app.create_product("Plenty", "misc", 10).await);
    let scarce = id_of(&app.create_product("Scarce", "misc", 1).await);
    let resp = app
        .reserve(Uuid::now_v7(), &[(plenty, 3), (scarce, 2)])
        .await;
    resp.assert_problem(409, "out-of-stock");
    assert_eq!(resp.body["product_ids"], json!([scarce]));
    assert_eq!(app.stock(plenty).await, 10, "all or nothing");
    assert_eq!(app.stock(scarce).await, 1);
}

#[sqlx::test]
async fn unknown_and_archived_products_are_unavailable(db: PgPool) {
    let app = spawn(db).await;
    let live = id_of(&app.create_product("Live", "misc", 10).await);
    let gone = id_of(&app.create_product("Gone", "misc", 10).await);
    app.with_admin()
        .call(
            Method::PATCH,
            &format!("/v1/products/{gone}"),
            Some(json!({"archived": true})),
        )
        .await;
    let ghost = Uuid::now_v7();
    let resp = app
        .reserve(Uuid::now_v7(), &[(live, 1), (gone, 1), (ghost, 1)])
        .await;
    resp.assert_problem(422, "product-unavailable");
    let mut named: Vec<Uuid> = serde_json::from_value(resp.body["product_ids"].clone()).unwrap();
    named.sort();
    let mut expected = vec![gone, ghost];
    expected.sort();
    assert_eq!(named, expected);
    assert_eq!(app.stock(live).await, 10);
}

#[sqlx::test]
async fn invalid_requests_are_422(db: PgPool) {
    let app = spawn(db).await;
    let a = id_of(&app.create_product("A", "misc", 10).await);
    app.reserve(Uuid::now_v7(), &[])
        .await
        .assert_problem(422, "validation");
    app.reserve(Uuid::now_v7(), &[(a, 0)])
        .await
        .assert_problem(422, "validation");
    app.reserve(Uuid::now_v7(), &[(a, -3)])
        .await
        .assert_problem(422, "validation");
    app.reserve(Uuid::now_v7(), &[(a, 1), (a, 1)])
        .await
        .assert_problem(422, "validation");
    assert_eq!(app.stock(a).await, 10);
}

#[sqlx::test]
async fn commit_and_release_are_idempotent_and_conserve_stock(db: PgPool) {
    let app = spawn(db).await;
    let a = id_of(&app.create_product("A", "misc", 4).await);
    let rid = Uuid::now_v7();
    app.reserve(rid, &[(a, 3)]).await;
    for _ in 0..2 {
        let c = app
            .internal_post(&format!("/internal/v1/reservations/{rid}/commit"))
            .await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.body);
        assert_eq!(c.body["status"], "committed");
    }
    assert_eq!(accounted_units(&app.db, a).await, (1, 0, 3));
    // Cancelling a sold order returns its units.
    for _ in 0..2 {
        let r = app
            .internal_post(&format!("/internal/v1/reservations/{rid}/release"))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["status"], "released");
    }
    assert_eq!(
        accounted_units(&app.db, a).await,
        (4, 0, 0),
        "released exactly once"
    );
    app.internal_post(&format!("/internal/v1/reservations/{rid}/commit"))
        .await
        .assert_problem(409, "conflict");
}

#[sqlx::test]
async fn committing_an_unknown_reservation_is_404(db: PgPool) {
    let app = spawn(db).await;
    let rid = Uuid::now_v7();
    app.internal_post(&format!("/internal/v1/reservations/{rid}/commit"))
        .await
        .assert_problem(404, "not-found");
}

#[sqlx::test]
async fn a_release_before_the_reserve_leaves_a_tombstone_that_refuses_it(db: PgPool) {
    let app = spawn(db).await;
    let a = id_of(&app.create_product("A", "misc", 5).await);
    let rid = Uuid::now_v7();
    // The order service gave up on a reserve whose answer it never got, and
    // released the id; the reserve itself arrives afterwards.
    let released = app
        .internal_post(&format!("/internal/v1/reservations/{rid}/release"))
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert_eq!(released.body["status"], "released");
    assert_eq!(released.body["lines"], json!([]));
    app.reserve(rid, &[(a, 2)])
        .await
        .assert_problem(409, "conflict");
    assert_eq!(app.stock(a).await, 5, "nothing is held for it");
    assert_eq!(accounted_units(&app.db, a).await, (5, 0, 0));
    // Releasing again is still a no-op.
    let again = app
        .internal_post(&format!("/internal/v1/reservations/{rid}/release"))
        .await;
    assert_eq!(again.body["status"], "released");
}

#[sqlx::test]
async fn a_release_racing_a_reserve_in_flight_waits_for_it_and_returns_its_stock(db: PgPool) {
    let app = spawn(db.clone()).await;
    let a = id_of(&app.create_product("A", "misc", 5).await);
    let rid = Uuid::now_v7();
    // A reserve mid-transaction, as `db::reservations::reserve` does it:
    // the id claimed, the stock taken, not yet committed.
    let mut reserve = db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO reservations (id, status, expires_at) VALUES ($1, 'held', now() + interval '1 hour')",
    )
    .bind(rid)
    .execute(&mut *reserve)
    .await
    .unwrap();
    sqlx::query("UPDATE products SET stock = stock - 2 WHERE id = $1")
        .bind(a)
        .execute(&mut *reserve)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO reservation_lines (reservation_id, product_id, quantity, unit_price_amount, currency) \
         VALUES ($1, $2, 2, 1250, 'EUR')",
    )
    .bind(rid)
    .bind(a)
    .execute(&mut *reserve)
    .await
    .unwrap();

    // The release starts now and must wait for that transaction.
    let release = tokio::spawn({
        let app = app.clone();
        async move {
            app.internal_post(&format!("/internal/v1/reservations/{rid}/release"))
                .await
        }
    });
    // Deterministically: until PostgreSQL shows a backend waiting on a lock
    // (bounded: 10 s).
    let mut waiting = false;
    for _ in 0..200 {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        if n > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(waiting, "the release waits for the reserve in flight");
    reserve.commit().await.unwrap();

    let released = release.await.unwrap();
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert_eq!(released.body["status"], "released");
    assert_eq!(
        app.stock(a).await,
        5,
        "the late reservation's stock is back"
    );
    assert_eq!(accounted_units(&app.db, a).await, (5, 0, 0));
}

/// Moves reservations' expiry into the past, as if their TTL had passed:
/// the tests below then never wait for a clock, and nothing can expire
/// before the test means it to.
async fn expire_by_clock(db: &PgPool, ids: &[Uuid]) {
    let moved = sqlx::query(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = ANY($1)",
    )
    .bind(ids)
    .execute(db)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(moved, ids.len() as u64);
}

#[sqlx::test]
async fn a_reservation_expires_its_ttl_after_it_was_made(db: PgPool) {
    let app = spawn_with(db, short_ttl(), HttpConfig::default()).await;
    let a = id_of(&app.create_product("A", "misc", 5).await);
    let resp = app.reserve(Uuid::now_v7(), &[(a, 1)]).await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    // Both come from one transaction's now(), so the difference is the
    // configured TTL exactly, however slow the machine.
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(resp.body[field].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        at("expires_at") - at("created_at"),
        chrono::TimeDelta::milliseconds(300),
        "{}",
        resp.body
    );
}

#[sqlx::test]
async fn the_sweeper_returns_expired_holds_and_commit_then_fails(db: PgPool) {
    // The default TTL (15 minutes): nothing expires unless the test says so.
    let app = spawn(db).await;
    let a = id_of(&app.create_product("A", "misc", 6).await);
    let held = Uuid::now_v7();
    let late = Uuid::now_v7();
    let sold = Uuid::now_v7();
    for (id, units) in [(held, 2), (late, 1), (sold, 1)] {
        let r = app.reserve(id, &[(a, units)]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let c = app
        .internal_post(&format!("/internal/v1/reservations/{sold}/commit"))
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    assert_eq!(c.body["status"], "committed");
    assert_eq!(accounted_units(&app.db, a).await, (2, 3, 1));

    // Every one of them past its expiry, the sold one included: the
    // sweeper must still leave that one alone.
    expire_by_clock(&app.db, &[held, late, sold]).await;

    // A commit that comes after the TTL but before the sweeper is refused:
    // its stock is about to go back to the shelf.
    app.internal_post(&format!("/internal/v1/reservations/{late}/commit"))
        .await
        .assert_problem(409, "conflict");
    assert_eq!(accounted_units(&app.db, a).await, (2, 3, 1));

    assert_eq!(
        product::sweeper::sweep(&app.state).await.unwrap(),
        2,
        "exactly the two holds expire; the sold one stays"
    );
    assert_eq!(accounted_units(&app.db, a).await, (5, 0, 1));
    for id in [held, late] {
        let r = app
            .with_service()
            .call(
                Method::GET,
                &format!("/internal/v1/reservations/{id}"),
                None,
            )
            .await;
        assert_eq!(r.body["status"], "expired");
        app.internal_post(&format!("/internal/v1/reservations/{id}/commit"))
            .await
            .assert_problem(409, "conflict");
    }
    // A second sweep finds nothing more to do.
    assert_eq!(product::sweeper::sweep(&app.state).await.unwrap(), 0);
    assert_eq!(accounted_units(&app.db, a).await, (5, 0, 1));
}

/// `commit: true` sells in the one transaction that takes the stock: the
/// reservation is committed at once, the sweeper never returns it, a
/// replay answers it, and release (a cancelled order) returns its units.
#[sqlx::test]
async fn a_reservation_that_sells_at_once_is_committed_and_never_expires(db: PgPool) {
    let app = spawn(db).await;
    let a = id_of(&app.create_product("A", "misc", 5).await);
    let rid = Uuid::now_v7();
    let body = json!({"id": rid, "lines": [{"product_id": a, "quantity": 2}], "commit": true});
    let service = app.with_service();
    let sell = || {
        service.call(
            Method::POST,
            "/internal/v1/reservations",
            Some(body.clone()),
        )
    };
    let sold = sell().await;
    assert_eq!(sold.status, StatusCode::CREATED, "{}", sold.body);
    assert_eq!(sold.body["status"], "committed");
    assert_eq!(accounted_units(&app.db, a).await, (3, 0, 2));

    let replay = sell().await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert_eq!(replay.body, sold.body);

    expire_by_clock(&app.db, &[rid]).await;
    assert_eq!(product::sweeper::sweep(&app.state).await.unwrap(), 0);
    assert_eq!(accounted_units(&app.db, a).await, (3, 0, 2), "still sold");

    let released = app
        .internal_post(&format!("/internal/v1/reservations/{rid}/release"))
        .await;
    assert_eq!(released.body["status"], "released", "{}", released.body);
    assert_eq!(accounted_units(&app.db, a).await, (5, 0, 0));
}

/// A held reservation asked again with `commit: true` (the same lines) is
/// committed by that request; once its hold has expired, the request is
/// refused and nothing is sold.
#[sqlx::test]
async fn selling_a_hold_commits_it_unless_it_expired(db: PgPool) {
    let app = spawn(db).await;
    let a = id_of(&app.create_product("A", "misc", 5).await);
    let service = app.with_service();
    let sell = |rid: Uuid| {
        let body = json!({"id": rid, "lines": [{"product_id": a, "quantity": 1}], "commit": true});
        service.call(Method::POST, "/internal/v1/reservations", Some(body))
    };
    let fresh = Uuid::now_v7();
    let late = Uuid::now_v7();
    for rid in [fresh, late] {
        assert_eq!(
            app.reserve(rid, &[(a, 1)]).await.status,
            StatusCode::CREATED
        );
    }
    let now_sold = sell(fresh).await;
    assert_eq!(now_sold.status, StatusCode::OK, "{}", now_sold.body);
    assert_eq!(now_sold.body["status"], "committed");

    expire_by_clock(&app.db, &[late]).await;
    sell(late).await.assert_problem(409, "conflict");
    assert_eq!(accounted_units(&app.db, a).await, (3, 1, 1));
    product::sweeper::sweep(&app.state).await.unwrap();
    assert_eq!(accounted_units(&app.db, a).await, (4, 0, 1));
}
