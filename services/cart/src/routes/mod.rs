//! The cart service's HTTP surface: routes, their OpenAPI description and
//! the `/openapi.json` document generated from them.

pub mod cart;
pub mod internal;

use axum::Router;
use axum::routing::get;
use shop_common::openapi::ProblemResponses;
use shop_common::server::BearerAuth;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop cart service", description = "One cart per user, priced by the product service. Errors are problem+json (RFC 9457). Integers in JSON bodies are written as integers (`2`; `2.0` is refused)."),
    modifiers(&BearerAuth),
    tags(
        (name = "cart", description = "The caller's cart (the token's subject)."),
        (name = "internal", description = "Service-to-service only; never routed by the gateway."),
    )
)]
struct ApiDoc;

/// The routes with the OpenAPI document they describe.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(cart::get, cart::clear))
        .routes(routes!(cart::set_quantity, cart::remove))
        .routes(routes!(internal::stored))
        .routes(routes!(internal::remove_lines));
    // Once every route is in: the platform's errors, on every operation.
    ProblemResponses.modify(router.get_openapi_mut());
    router
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

#[cfg(test)]
mod tests {
    use shop_api::cart::{MAX_LINES, MAX_QUANTITY};

    /// The limits the document states are the ones the service enforces.
    #[test]
    fn the_document_states_the_limits() {
        let (_, api) = super::openapi_router().split_for_parts();
        let doc = serde_json::to_value(api).unwrap();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["SetQuantity"]["properties"]["quantity"]["maximum"],
            MAX_QUANTITY
        );
        assert_eq!(
            schemas["RemoveLines"]["properties"]["lines"]["maxItems"],
            MAX_LINES
        );
    }
}
