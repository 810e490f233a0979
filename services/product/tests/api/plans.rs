//! The list queries' plans, read with EXPLAIN on a catalog of realistic
//! size: each filter is served by an index, never by reading every product.

use shop_api::product::ListProducts;
use sqlx::PgPool;

use product::db::products::list_sql;
use product::domain::product::ListQuery;

/// The plan PostgreSQL picks for the list statement of `q`.
async fn plan(db: &PgPool, q: &ListQuery) -> String {
    let sql = format!("EXPLAIN {}", list_sql(q));
    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(q.category())
        .bind(q.name_pattern())
        .bind(q.ids())
        .bind(q.after())
        .bind(i64::from(q.limit()) + 1)
        .fetch_all(db)
        .await
        .unwrap();
    rows.join("\n")
}

#[sqlx::test]
async fn every_list_filter_is_served_by_an_index(db: PgPool) {
    // 50,000 products over 100 categories, names from a small vocabulary
    // plus a number, as a real catalog looks to the planner. ANALYZE reads
    // 300 rows per unit of statistics target: at 1000 it reads every row, so
    // the statistics (and so the plans) are the same on every run instead
    // of depending on a random sample.
    sqlx::raw_sql(
        "INSERT INTO products (id, name, category, price_amount, currency, stock) \
         SELECT gen_random_uuid(), \
                (ARRAY['Kettle','Teapot','Mug','Lamp','Scarf','Chair'])[1 + i % 6] || ' model ' || i, \
                'category-' || (i % 100), 1000, 'EUR', 10 \
         FROM generate_series(1, 50000) AS i; \
         SET default_statistics_target = 1000; \
         ANALYZE products;",
    )
    .execute(&db)
    .await
    .unwrap();
    let query = |l: ListProducts| ListQuery::parse(l).unwrap();

    let search = plan(
        &db,
        &query(ListProducts {
            q: Some("model 4242".into()),
            ..Default::default()
        }),
    )
    .await;
    assert!(search.contains("products_name_trgm"), "{search}");
    assert!(!search.contains("Seq Scan"), "{search}");

    let category = plan(
        &db,
        &query(ListProducts {
            category: Some("category-7".into()),
            ..Default::default()
        }),
    )
    .await;
    assert!(
        category.contains("products_listed_by_category"),
        "{category}"
    );
    // A later page of the category starts inside the index, at the cursor.
    let id: uuid::Uuid = sqlx::query_scalar(
        "SELECT id FROM products WHERE category = 'category-7' ORDER BY id OFFSET 100 LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let later = plan(
        &db,
        &query(ListProducts {
            category: Some("category-7".into()),
            cursor: Some(shop_common::pagination::encode_cursor(id)),
            ..Default::default()
        }),
    )
    .await;
    assert!(
        later.contains("products_listed_by_category") && later.contains("id >"),
        "{later}"
    );

    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM products LIMIT 1")
        .fetch_one(&db)
        .await
        .unwrap();
    let by_ids = plan(
        &db,
        &query(ListProducts {
            ids: Some(id.to_string()),
            ..Default::default()
        }),
    )
    .await;
    assert!(!by_ids.contains("Seq Scan"), "{by_ids}");

    // The first page of everything walks the primary key and stops early.
    let first = plan(&db, &query(ListProducts::default())).await;
    assert!(
        first.contains("products_pkey") && first.contains("Limit"),
        "{first}"
    );
}
