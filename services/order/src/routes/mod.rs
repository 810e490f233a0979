//! The order service's HTTP surface: routes, their OpenAPI description and
//! the `/openapi.json` document generated from them.

pub mod orders;

use axum::Router;
use axum::routing::get;
use shop_common::server::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop order service", description = "Checkout (a saga over product and cart) and orders."),
    modifiers(&BearerAuth),
    tags((name = "orders", description = "The caller's orders (the token's subject)."))
)]
struct ApiDoc;

/// The routes with the OpenAPI document they describe.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(orders::checkout, orders::list))
        .routes(routes!(orders::get))
        .routes(routes!(orders::cancel))
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
