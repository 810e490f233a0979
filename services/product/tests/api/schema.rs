//! The database's own guards, written past the service's code: whatever a
//! bug in Rust lets through, PostgreSQL refuses a negative stock, a bad
//! price or currency, an unknown reservation status. They are the tables'
//! CHECK constraints (migration 0001); these tests hold every one of them
//! to its column.

use shop_common::testing::assert_schema_refuses;
use sqlx::PgPool;

#[sqlx::test]
async fn the_catalog_schema_refuses_what_the_rules_forbid(db: PgPool) {
    sqlx::raw_sql(
        "INSERT INTO products (id, name, category, price_amount, currency, stock) \
         VALUES ('00000000-0000-0000-0000-000000000001', 'Mug', 'kitchen', 900, 'EUR', 5); \
         INSERT INTO reservations (id, status, expires_at) \
         VALUES ('00000000-0000-0000-0000-0000000000a1', 'held', now() + interval '1 minute')",
    )
    .execute(&db)
    .await
    .unwrap();
    let line = |quantity: i32, price: i64| {
        format!(
            "INSERT INTO reservation_lines \
             (reservation_id, product_id, quantity, unit_price_amount, currency) \
             VALUES ('00000000-0000-0000-0000-0000000000a1', \
             '00000000-0000-0000-0000-000000000001', {quantity}, {price}, 'EUR')"
        )
    };
    assert_schema_refuses(
        &db,
        &[
            // The last line of defence against overselling: a value set
            // outright, and a decrement past zero as a sale writes it.
            ("UPDATE products SET stock = -1", "products_stock_check"),
            (
                "UPDATE products SET stock = stock - 6",
                "products_stock_check",
            ),
            ("UPDATE products SET name = ''", "products_name_check"),
            (
                "UPDATE products SET description = repeat('x', 2001)",
                "products_description_check",
            ),
            (
                "UPDATE products SET category = 'Kitchen'",
                "products_category_check",
            ),
            (
                "UPDATE products SET price_amount = -1",
                "products_price_amount_check",
            ),
            (
                "UPDATE products SET currency = 'eur'",
                "products_currency_check",
            ),
            (
                "INSERT INTO reservations (id, status, expires_at) \
                 VALUES (gen_random_uuid(), 'lost', now())",
                "reservations_status_check",
            ),
            (&line(0, 900), "reservation_lines_quantity_check"),
            (&line(1, -900), "reservation_lines_unit_price_amount_check"),
        ],
    )
    .await;
    // And the rows as they were: each refusal rolled back, and a valid
    // write of every guarded column still goes through.
    let done = sqlx::query(
        "UPDATE products SET stock = 0, name = 'Cup', description = '', category = 'kitchen-2', \
         price_amount = 0, currency = 'USD'",
    )
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 1);
    sqlx::query(sqlx::AssertSqlSafe(line(1, 0)))
        .execute(&db)
        .await
        .unwrap();
}
