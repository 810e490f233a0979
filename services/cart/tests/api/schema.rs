//! The database's own guards, written past the service's code: whatever a
//! bug in Rust lets through, PostgreSQL refuses a quantity out of 1 to 99,
//! a negative price, a malformed currency, an empty owner. They are the
//! tables' CHECK constraints (migration 0001); these tests hold every one
//! of them to its column, on the plain table and through
//! `cart_set_quantity`.

use shop_common::testing::assert_schema_refuses;
use sqlx::PgPool;

#[sqlx::test]
async fn the_cart_schema_refuses_what_the_rules_forbid(db: PgPool) {
    let set = |user: &str, quantity: i32, price: i64, currency: &str| {
        format!(
            "SELECT * FROM cart_set_quantity('{user}', 1, \
             '00000000-0000-0000-0000-000000000001', {quantity}, {price}, '{currency}', \
             'Mug', 50)"
        )
    };
    let added: (String, i32) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT outcome, quantity FROM ({}) s",
        set("ada", 2, 900, "EUR")
    )))
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(added, ("set".to_owned(), 2));
    assert_schema_refuses(
        &db,
        &[
            (
                "UPDATE cart_lines SET quantity = 0",
                "cart_lines_quantity_check",
            ),
            (
                "UPDATE cart_lines SET quantity = 100",
                "cart_lines_quantity_check",
            ),
            (
                "UPDATE cart_lines SET user_id = ''",
                "cart_lines_user_id_check",
            ),
            (
                "UPDATE cart_lines SET user_id = repeat('u', 256)",
                "cart_lines_user_id_check",
            ),
            (
                "UPDATE cart_lines SET unit_price_amount = -1",
                "cart_lines_unit_price_amount_check",
            ),
            (
                "UPDATE cart_lines SET currency = 'EURO'",
                "cart_lines_currency_check",
            ),
            (&set("ada", 100, 900, "EUR"), "cart_lines_quantity_check"),
            (
                &set("ada", 1, -900, "EUR"),
                "cart_lines_unit_price_amount_check",
            ),
            (&set("bob", 1, 900, "eur"), "cart_lines_currency_check"),
            (&set("", 1, 900, "EUR"), "cart_lines_user_id_check"),
        ],
    )
    .await;
    let line: (i32, i64, String) =
        sqlx::query_as("SELECT quantity, unit_price_amount, currency FROM cart_lines")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(line, (2, 900, "EUR".to_owned()));
}
