//! The database's own guards, written past the service's code: whatever a
//! bug in Rust lets through, PostgreSQL refuses an unknown order status, an
//! empty or oversized owner or idempotency key, a line of no units. They
//! are the tables' CHECK constraints (migration 0001); these tests hold
//! every one of them to its column.

use shop_common::testing::assert_schema_refuses;
use sqlx::PgPool;

#[sqlx::test]
async fn the_order_schema_refuses_what_the_rules_forbid(db: PgPool) {
    sqlx::raw_sql(
        "INSERT INTO orders (id, user_id, idempotency_key, request_body, status) \
         VALUES ('00000000-0000-0000-0000-000000000001', 'ada', 'k1', '{}', 'pending'); \
         INSERT INTO order_lines (order_id, product_id, quantity, cart_revision) \
         VALUES ('00000000-0000-0000-0000-000000000001', gen_random_uuid(), 1, 7)",
    )
    .execute(&db)
    .await
    .unwrap();
    assert_schema_refuses(
        &db,
        &[
            (
                "UPDATE orders SET status = 'shipped'",
                "orders_status_check",
            ),
            ("UPDATE orders SET user_id = ''", "orders_user_id_check"),
            (
                "UPDATE orders SET user_id = repeat('u', 256)",
                "orders_user_id_check",
            ),
            (
                "UPDATE orders SET idempotency_key = ''",
                "orders_idempotency_key_check",
            ),
            (
                "UPDATE orders SET idempotency_key = repeat('k', 256)",
                "orders_idempotency_key_check",
            ),
            (
                "UPDATE order_lines SET quantity = 0",
                "order_lines_quantity_check",
            ),
        ],
    )
    .await;
    // Every status the saga writes, and a key freed for a retry, still go
    // through.
    for status in ["confirmed", "failed", "cancelled", "pending"] {
        sqlx::query("UPDATE orders SET status = $1, idempotency_key = NULL")
            .bind(status)
            .execute(&db)
            .await
            .unwrap();
    }
}
