//! The recovery worker's rounds, run directly: one failing order does not
//! stop the round, and claimed orders are released for the next one.

use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

/// A pending order as a crash before the reserve call leaves it: recorded,
/// nothing reserved.
async fn interrupted_order(db: &PgPool, user: &str) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (id, user_id, idempotency_key, request_body, status, created_at) \
         VALUES ($1, $2, $3, '{}', 'pending', now() - interval '1 minute')",
    )
    .bind(id)
    .bind(user)
    .bind(format!("key-{id}"))
    .execute(db)
    .await
    .unwrap();
    id
}

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
