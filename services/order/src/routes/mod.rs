//! The order service's HTTP surface: its routes and the OpenAPI description
//! generated from them (the platform adds the shared error responses and
//! serves the document at `/openapi.json`).

pub mod orders;

use shop_common::openapi::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop order service", description = "Checkout (a saga over product and cart) and orders. Errors are problem+json (RFC 9457). Integers in JSON bodies are written as integers (`2`; `2.0` is refused)."),
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

#[cfg(test)]
mod tests {
    use shop_api::order::MAX_IDEMPOTENCY_KEY_LEN;
    use shop_api::product::MAX_PAGE_LIMIT;

    use crate::domain::order::MAX_NOTE;

    /// The limits the document states are the ones the service enforces.
    #[test]
    fn the_document_states_the_limits() {
        let api = shop_common::service::openapi::<crate::Order>();
        let doc = serde_json::to_value(api).unwrap();
        assert_eq!(
            doc["components"]["schemas"]["Checkout"]["properties"]["note"]["maxLength"],
            MAX_NOTE
        );
        let param = |path: &str, method: &str, name: &str| {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| p["schema"].clone())
                .unwrap()
        };
        let key = param("/v1/orders", "post", "Idempotency-Key");
        assert_eq!(key["maxLength"], MAX_IDEMPOTENCY_KEY_LEN);
        assert_eq!(key["minLength"], 1);
        assert_eq!(
            param("/v1/orders", "get", "limit")["maximum"],
            MAX_PAGE_LIMIT
        );
    }
}
