//! The cart service's HTTP surface: its routes and the OpenAPI description
//! generated from them (the platform adds the shared error responses and
//! serves the document at `/openapi.json`).

pub mod cart;
pub mod internal;

use shop_common::openapi::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

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
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(cart::get, cart::clear))
        .routes(routes!(cart::set_quantity, cart::remove))
        .routes(routes!(internal::stored))
        .routes(routes!(internal::remove_lines))
}

#[cfg(test)]
mod tests {
    use shop_api::cart::{MAX_LINES, MAX_QUANTITY};

    /// The limits the document states are the ones the service enforces.
    #[test]
    fn the_document_states_the_limits() {
        let api = shop_common::service::openapi::<crate::Cart>();
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
