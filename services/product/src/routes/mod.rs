//! The product service's HTTP surface: routes, their OpenAPI description and
//! the `/openapi.json` document generated from them.

pub mod products;
pub mod reservations;

use axum::Router;
use axum::routing::get;
use shop_common::server::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop product service", description = "Catalog, prices, stock and stock reservations."),
    modifiers(&BearerAuth),
    tags(
        (name = "products", description = "The public catalog; writes need the admin role."),
        (name = "internal", description = "Service-to-service only; never routed by the gateway."),
    )
)]
struct ApiDoc;

/// The routes with the OpenAPI document they describe.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(products::list, products::create))
        .routes(routes!(products::get, products::patch))
        .routes(routes!(reservations::create))
        .routes(routes!(reservations::get))
        .routes(routes!(reservations::commit))
        .routes(routes!(reservations::release))
}

/// The OpenAPI document (also served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi_router().split_for_parts().1
}

/// All routes, state applied.
pub fn router(state: AppState) -> Router {
    let (router, api) = openapi_router().split_for_parts();
    let api = std::sync::Arc::new(api);
    router
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(api.as_ref().clone()) }),
        )
        .with_state(state)
}
