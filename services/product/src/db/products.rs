//! Catalog queries. Each takes the checked types of `domain::product`,
//! never a wire type, so nothing unchecked reaches a statement.

use chrono::{DateTime, Utc};
use shop_api::Money;
use shop_api::product::Product;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::product::{ListQuery, Precondition, ValidNewProduct, ValidPatch};

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    description: String,
    category: String,
    price_amount: i64,
    currency: String,
    stock: i32,
    archived: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Product {
    fn from(r: Row) -> Self {
        Product {
            id: r.id,
            name: r.name,
            description: r.description,
            category: r.category,
            price: Money::new(r.price_amount, r.currency),
            stock: r.stock,
            archived: r.archived,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, name, description, category, price_amount, currency, stock, \
                       archived, version, created_at, updated_at";

/// Inserts a product with a fresh UUID v7 id.
pub async fn insert(db: &PgPool, p: &ValidNewProduct) -> sqlx::Result<Product> {
    let sql = format!(
        "INSERT INTO products (id, name, description, category, price_amount, currency, stock) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::now_v7())
        .bind(p.name())
        .bind(p.description())
        .bind(p.category())
        .bind(p.price().amount)
        .bind(&p.price().currency)
        .bind(p.stock())
        .fetch_one(db)
        .await
        .map(Product::from)
}

/// One product by id, archived or not.
pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Product>> {
    let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1");
    sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await
        .map(|r| r.map(Product::from))
}

/// The statement [`list`] runs for `q`, with parameters `$1` category,
/// `$2` name pattern, `$3` ids, `$4` cursor, `$5` limit.
///
/// Each filter given becomes a plain condition, and each absent one a
/// `$n IS NULL` that binds nothing, rather than one statement with
/// `($1 IS NULL OR category = $1)` for every case: PostgreSQL caches a
/// generic plan for a prepared statement after a few runs, and a generic
/// plan cannot use an index behind an `OR` with a parameter (the trigram
/// index for a search, the partial `(category, id) WHERE NOT archived`
/// index for a category page). `plans.rs` in the tests reads the plans.
pub fn list_sql(q: &ListQuery) -> String {
    let category = if q.category().is_some() {
        "category = $1"
    } else {
        "$1::text IS NULL"
    };
    let name = if q.name_pattern().is_some() {
        "name ILIKE $2"
    } else {
        "$2::text IS NULL"
    };
    // Archived products are listed only when asked for by id.
    let ids = if q.ids().is_some() {
        "id = ANY($3)"
    } else {
        "NOT archived AND $3::uuid[] IS NULL"
    };
    let after = if q.after().is_some() {
        "id > $4"
    } else {
        "$4::uuid IS NULL"
    };
    format!(
        "SELECT {COLUMNS} FROM products \
         WHERE {category} AND {name} AND {ids} AND {after} \
         ORDER BY id LIMIT $5"
    )
}

/// One page in id order, plus whether another page follows. Archived
/// products are only included when asked for by id.
pub async fn list(db: &PgPool, q: &ListQuery) -> sqlx::Result<(Vec<Product>, bool)> {
    let mut rows: Vec<Product> = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(list_sql(q)))
        .bind(q.category())
        .bind(q.name_pattern())
        .bind(q.ids())
        .bind(q.after())
        .bind(i64::from(q.limit()) + 1)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(Product::from)
        .collect();
    let more = rows.len() > q.limit() as usize;
    rows.truncate(q.limit() as usize);
    Ok((rows, more))
}

/// Why a patch was not applied.
#[derive(Debug)]
pub enum PatchOutcome {
    Updated(Product),
    NotFound,
    /// The row exists but its version is not the one `If-Match` named.
    VersionMismatch,
}

/// The current version of a product, if it exists.
async fn version(db: &PgPool, id: Uuid) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT version FROM products WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Applies a patch if `precondition` allows the current version.
///
/// The version check and the write are atomic, so two admins racing on the
/// same ETag cannot both win: with `If-Match` the current version is read
/// and checked, and the write applies only while that is still the
/// version. A change that lands in between makes the write miss, and the
/// answer is 412, as it would have been had that change come first. (The
/// header's tags cannot go into the statement itself: `headers::IfMatch`
/// answers whether a tag matches, and does not list them.)
pub async fn patch(
    db: &PgPool,
    id: Uuid,
    p: &ValidPatch,
    precondition: &Precondition,
) -> sqlx::Result<PatchOutcome> {
    let expected = match precondition {
        Precondition::Any => None,
        Precondition::IfMatch(_) => match version(db, id).await? {
            None => return Ok(PatchOutcome::NotFound),
            Some(v) if precondition.allows(v) => Some(v),
            Some(_) => return Ok(PatchOutcome::VersionMismatch),
        },
    };
    let sql = format!(
        "UPDATE products SET \
           name = COALESCE($3, name), \
           description = COALESCE($4, description), \
           category = COALESCE($5, category), \
           price_amount = COALESCE($6, price_amount), \
           currency = COALESCE($7, currency), \
           stock = COALESCE($8, stock), \
           archived = COALESCE($9, archived), \
           version = version + 1, updated_at = now() \
         WHERE id = $1 AND ($2::bigint IS NULL OR version = $2) \
         RETURNING {COLUMNS}"
    );
    let updated = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(expected)
        .bind(p.name())
        .bind(p.description())
        .bind(p.category())
        .bind(p.price().map(|m| m.amount))
        .bind(p.price().map(|m| m.currency.as_str()))
        .bind(p.stock())
        .bind(p.archived())
        .fetch_optional(db)
        .await?;
    match updated {
        Some(row) => Ok(PatchOutcome::Updated(row.into())),
        None if get(db, id).await?.is_some() => Ok(PatchOutcome::VersionMismatch),
        None => Ok(PatchOutcome::NotFound),
    }
}
