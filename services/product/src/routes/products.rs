//! `/v1/products`: the public catalog. Reads are public; writes need the
//! admin role. Nothing is deleted: archiving hides a product from lists.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shop_api::product::{ListProducts, NewProduct, Product, ProductPage, ProductPatch};
use shop_common::auth::Admin;
use shop_common::json::JsonObject;
use uuid::Uuid;

use crate::db::products::{self as db, PatchOutcome};
use crate::domain::catalog::{self, IfMatch};
use crate::error::{Error, ProductError};
use crate::state::AppState;

fn with_etag(status: StatusCode, product: Product) -> Response {
    let etag = catalog::etag(product.version);
    let mut resp = (status, Json(product)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
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
    let query = catalog::list_query(&query)?;
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
    catalog::validate_new(&new)?;
    let product = db::insert(&state.db, &new).await?;
    let location = format!("/v1/products/{}", product.id);
    let mut resp = with_etag(StatusCode::CREATED, product);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Get one product, archived or not. Supports `If-None-Match`.
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
    headers: HeaderMap,
) -> Result<Response, Error> {
    let product = db::get(&state.db, id)
        .await?
        .ok_or(Error::NotFound("product"))?;
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| catalog::none_match_hits(v, product.version));
    if fresh {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&catalog::etag(product.version)) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        return Ok(resp);
    }
    Ok(with_etag(StatusCode::OK, product))
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
    headers: HeaderMap,
    JsonObject(patch): JsonObject<ProductPatch>,
) -> Result<Response, Error> {
    catalog::validate_patch(&patch)?;
    let if_match = match headers.get(header::IF_MATCH) {
        None => IfMatch::Any,
        Some(v) => v.to_str().map_or(IfMatch::Never, catalog::parse_if_match),
    };
    match db::patch(&state.db, id, &patch, if_match).await? {
        PatchOutcome::Updated(product) => Ok(with_etag(StatusCode::OK, product)),
        PatchOutcome::NotFound => Err(Error::NotFound("product")),
        PatchOutcome::VersionMismatch => Err(ProductError::PreconditionFailed.into()),
    }
}
