//! The recovery worker's rounds, run directly: one failing order does not
//! stop the round, and claimed orders are released for the next one.

use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

async fn status(db: &PgPool, id: Uuid) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, recovery_lease_until::text FROM orders WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test]
async fn an_error_on_one_order_does_not_abandon_the_rest_of_the_round(db: PgPool) {
    let shop = Shop::start(db.clone(), false).await;
    let broken = interrupted_order(&db, "alice").await;
    let fine = interrupted_order(&db, "bob").await;
    // Every write to the first order fails, as a database fault would.
    // The id is ours (a UUID), so the formatted SQL is safe.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN IF NEW.status <> OLD.status THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_one BEFORE UPDATE ON orders FOR EACH ROW \
           WHEN (OLD.id = '{broken}') EXECUTE FUNCTION refuse();"
    )))
    .execute(&db)
    .await
    .unwrap();

    let touched = order::recovery::round(&shop.state).await.unwrap();
    assert_eq!(touched, 2, "both orders were worked on");
    // Nothing was reserved for either: the worker fails them (roll back)...
    assert_eq!(status(&db, fine).await, ("failed".into(), None));
    // ...but the first could not be written: still pending, and unclaimed,
    // so the next round takes it again instead of waiting out the lease.
    assert_eq!(status(&db, broken).await, ("pending".into(), None));

    sqlx::raw_sql("DROP TRIGGER refuse_one ON orders")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(order::recovery::round(&shop.state).await.unwrap(), 1);
    assert_eq!(status(&db, broken).await.0, "failed");
}

#[sqlx::test]
async fn idempotency_keys_are_forgotten_after_their_retention(db: PgPool) {
    let insert = |status: &'static str, age: &'static str| {
        let db = db.clone();
        async move {
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO orders (id, user_id, idempotency_key, request_body, status, response_status, response_body, created_at) \
                 VALUES ($1, 'alice', $2, '{}', $3, 201, '{}', now() - $4::interval)",
            )
            .bind(id)
            .bind(format!("key-{id}"))
            .bind(status)
            .bind(age)
            .execute(&db)
            .await
            .unwrap();
            id
        }
    };
    let old_confirmed = insert("confirmed", "2 days").await;
    let old_cancelled = insert("cancelled", "2 days").await;
    let old_failed = insert("failed", "2 days").await;
    let old_pending = insert("pending", "2 days").await;
    let new_confirmed = insert("confirmed", "1 hour").await;
    let new_failed = insert("failed", "1 hour").await;

    let day = std::time::Duration::from_secs(24 * 3600);
    let changed = order::db::orders::forget_keys(&db, day, 100).await.unwrap();
    assert_eq!(changed, 3);
    let key = |id: Uuid| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, Option<String>>(
                "SELECT idempotency_key FROM orders WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&db)
            .await
            .unwrap()
        }
    };
    assert_eq!(key(old_confirmed).await, Some(None), "kept, key forgotten");
    assert_eq!(key(old_cancelled).await, Some(None));
    assert_eq!(key(old_failed).await, None, "a failed checkout is deleted");
    assert!(
        key(old_pending).await.unwrap().is_some(),
        "pending is the worker's"
    );
    assert!(
        key(new_confirmed).await.unwrap().is_some(),
        "inside the retention"
    );
    assert!(key(new_failed).await.unwrap().is_some());
    // The sweep's lookups can be served by the retention index (forced
    // here: on six rows the planner would rightly read the table).
    let mut conn = db.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    for lookup in [
        "EXPLAIN SELECT id FROM orders WHERE status = 'failed' AND created_at < now() - interval '1 day'",
        "EXPLAIN SELECT id FROM orders WHERE status IN ('confirmed', 'cancelled') \
         AND idempotency_key IS NOT NULL AND created_at < now() - interval '1 day'",
    ] {
        let plan: Vec<String> = sqlx::query_scalar(lookup)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("orders_retention"), "{plan}");
    }
    drop(conn);
    // Nothing left to do: a second sweep changes nothing.
    assert_eq!(
        order::db::orders::forget_keys(&db, day, 100).await.unwrap(),
        0
    );
}
