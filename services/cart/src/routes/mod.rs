//! The cart service's HTTP surface: routes, their OpenAPI description and
//! the `/openapi.json` document generated from them.

pub mod cart;
pub mod internal;

use axum::Router;
use axum::routing::get;
use shop_common::server::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop cart service", description = "One cart per user, priced by the product service."),
    modifiers(&BearerAuth),
    tags(
        (name = "cart", description = "The caller's cart (the token's subject)."),
        (name = "internal", description = "Service-to-service only; never routed by the gateway."),
    )
)]
struct ApiDoc;

/// The routes with the OpenAPI document they describe.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(cart::get, cart::clear))
        .routes(routes!(cart::set_quantity, cart::remove))
        .routes(routes!(internal::stored))
        .routes(routes!(internal::remove_lines))
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
