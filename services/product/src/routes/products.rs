//! `/v1/products`: the public catalog. Reads are public; writes need the
//! admin role. Nothing is deleted: archiving hides a product from lists.
//!
//! `GET /v1/products/{id}` reads through this replica's cache
//! ([`crate::cache`]), and `PATCH`, the one handler that changes an existing
//! product, invalidates it. (`POST` needs not: only found products are
//! cached, and a new id was never found. Reservations change stock without
//! invalidating, on purpose: see the cache module.) Lists never use the
//! cache: they are what a caller reads when it needs the stock of now.
//!
//! `ETag`, `If-Match` and `If-None-Match` are the `headers` crate's types,
//! read through `axum_extra`'s `TypedHeader` (see [`Conditional`]). Its
//! decoders refuse neither conditional header (a value they cannot read is
//! a list of tags that matches nothing), so these extractors never reject
//! a request; were one to, its bare 400 would still leave as problem+json
//! through the platform's `normalize` middleware.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::TypedHeader;
use axum_extra::typed_header::TypedHeaderRejection;
use headers::{Header, IfMatch, IfNoneMatch};
use shop_api::product::{ListProducts, NewProduct, Product, ProductPage, ProductPatch};
use shop_common::auth::Admin;
use shop_common::json::JsonObject;
use uuid::Uuid;

use crate::cache::Lookup;
use crate::db::products::{self as db, PatchOutcome};
use crate::domain::product::{self, ListQuery, Precondition, ValidNewProduct, ValidPatch};
use crate::error::{Error, ProductError};
use crate::state::AppState;

/// A conditional header (`If-Match`, `If-None-Match`), or `None` when the
/// request has none.
///
/// `Option<TypedHeader<H>>` cannot tell: it decodes before it looks for
/// the header, and these two decode no value at all as an empty list of
/// tags (hyperium/headers#145; axum-extra 0.12.6 has not the fix). A patch
/// without `If-Match` would then be refused with 412, since an empty list
/// matches no version. So this looks first, and decodes only what came.
pub struct Conditional<H>(pub Option<H>);

impl<H: Header, S: Send + Sync> FromRequestParts<S> for Conditional<H> {
    type Rejection = TypedHeaderRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(H::name()) {
            return Ok(Self(None));
        }
        let TypedHeader(h) = TypedHeader::<H>::from_request_parts(parts, state).await?;
        Ok(Self(Some(h)))
    }
}

fn with_etag(status: StatusCode, product: Product) -> Response {
    let etag = TypedHeader(product::etag(product.version));
    (status, etag, Json(product)).into_response()
}

/// List products, in creation order, one page at a time.
#[utoipa::path(
    get, path = "/v1/products", tag = "products", operation_id = "list_products",
    params(ListProducts),
    responses(
        (status = 200, description = "One page", body = ProductPage),
        (status = 400, description = "An unknown parameter, a repeated one, or a value that does not parse (`limit=x`)"),
        (status = 422, description = "A parameter out of range or of the wrong shape (each listed in `errors`)"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListProducts>,
) -> Result<Json<ProductPage>, Error> {
    let query = ListQuery::parse(query)?;
    let (items, more) = db::list(&state.db, &query).await?;
    let next_cursor = match items.last() {
        Some(last) if more => Some(shop_common::pagination::encode_cursor(last.id)),
        _ => None,
    };
    Ok(Json(ProductPage { items, next_cursor }))
}

/// Create a product (admin).
#[utoipa::path(
    post, path = "/v1/products", tag = "products", operation_id = "create_product",
    request_body = NewProduct,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Product,
            headers(
                ("Location" = String, description = "The product's URL, `/v1/products/{id}`"),
                ("ETag" = String, description = "The product's version, for `If-Match` and `If-None-Match`"),
            ),
            links(
                ("GetProduct" = (operation_id = "get_product", parameters(("id" = "$response.body#/id")), description = "Read the new product")),
                ("PatchProduct" = (operation_id = "patch_product", parameters(("id" = "$response.body#/id"), ("If-Match" = "$response.header.ETag")), description = "Change the new product, if unchanged since")),
            )
        ),
        (status = 403, description = "The token lacks the admin role"),
        (status = 422, description = "A field missing, unknown or out of range (each listed in `errors`)"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    JsonObject(new): JsonObject<NewProduct>,
) -> Result<Response, Error> {
    let new = ValidNewProduct::parse(new)?;
    let product = db::insert(&state.db, &new).await?;
    let location = format!("/v1/products/{}", product.id);
    let mut resp = with_etag(StatusCode::CREATED, product);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Get one product, archived or not. Supports `If-None-Match`.
///
/// The answer may come from the read cache of the replica that serves it:
/// stock may be up to `PRODUCT_CACHE_TTL_MS` old (1 s by default), and so
/// may a change made through another replica; a reservation is the
/// authority on stock. A change made through the same replica is seen at
/// once. The ETag is always the version of the body served.
#[utoipa::path(
    get, path = "/v1/products/{id}", tag = "products", operation_id = "get_product",
    params(
        ("id" = Uuid, Path, description = "Product id"),
        ("If-None-Match" = Option<String>, Header, description = "ETags of copies the client holds (or `*`): when one is current, the answer is 304 without a body"),
    ),
    responses(
        (status = 200, description = "The product", body = Product,
            headers(("ETag" = String, description = "The product's version")),
            links(
                ("PatchProduct" = (operation_id = "patch_product", parameters(("id" = "$request.path.id"), ("If-Match" = "$response.header.ETag")), description = "Change this product, if unchanged since")),
            )
        ),
        (status = 304, description = "Unchanged since the ETag in If-None-Match",
            headers(("ETag" = String, description = "The product's version"))
        ),
        (status = 400, description = "The id is not a UUID"),
        (status = 404, description = "No product with this id"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Conditional(if_none_match): Conditional<IfNoneMatch>,
) -> Result<Response, Error> {
    let product = read(&state, id).await?.ok_or(Error::NotFound("product"))?;
    // The ETag and the body both come from this one `Product`, cached or
    // not, so a 304 always vouches for the body a 200 would send.
    let fresh = if_none_match.is_some_and(|h| product::not_modified(&h, product.version));
    if fresh {
        let etag = TypedHeader(product::etag(product.version));
        return Ok((StatusCode::NOT_MODIFIED, etag).into_response());
    }
    Ok(with_etag(StatusCode::OK, product))
}

/// One product through the cache when there is one: a hit answers from
/// memory, a miss reads the database and keeps what it found (a product
/// that does not exist is never kept, so it is found once created).
async fn read(state: &AppState, id: Uuid) -> sqlx::Result<Option<Product>> {
    let Some(cache) = &state.cache else {
        return db::get(&state.db, id).await;
    };
    let miss = match cache.get(id) {
        Lookup::Hit(product) => return Ok(Some(product)),
        Lookup::Miss(miss) => miss,
    };
    let found = db::get(&state.db, id).await?;
    if let Some(product) = &found {
        cache.insert(miss, product.clone());
    }
    Ok(found)
}

/// Change a product (admin). With `If-Match`, only if unchanged since read.
#[utoipa::path(
    patch, path = "/v1/products/{id}", tag = "products", operation_id = "patch_product",
    params(
        ("id" = Uuid, Path, description = "Product id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on (or `*`): any other current version answers 412. Without it the change always applies"),
    ),
    request_body = ProductPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = Product,
            headers(("ETag" = String, description = "The product's new version")),
            links(
                ("GetProduct" = (operation_id = "get_product", parameters(("id" = "$request.path.id")), description = "Read the changed product")),
            )
        ),
        (status = 400, description = "The id is not a UUID"),
        (status = 403, description = "The token lacks the admin role"),
        (status = 404, description = "No product with this id"),
        (status = 412, description = "If-Match did not match the current version"),
        (status = 422, description = "A field unknown or out of range, or a patch that changes nothing"),
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
    Conditional(if_match): Conditional<IfMatch>,
    JsonObject(patch): JsonObject<ProductPatch>,
) -> Result<Response, Error> {
    let patch = ValidPatch::parse(patch)?;
    let precondition = Precondition::parse(if_match);
    let outcome = db::patch(&state.db, id, &patch, &precondition).await;
    // Whatever the outcome: an error may come after the row was written
    // (the commit's answer lost), and forgetting an unchanged product only
    // costs one database read.
    if let Some(cache) = &state.cache {
        cache.invalidate(id);
    }
    match outcome? {
        PatchOutcome::Updated(product) => Ok(with_etag(StatusCode::OK, product)),
        PatchOutcome::NotFound => Err(Error::NotFound("product")),
        PatchOutcome::VersionMismatch => Err(ProductError::PreconditionFailed.into()),
    }
}
