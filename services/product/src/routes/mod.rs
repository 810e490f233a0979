//! The product service's HTTP surface: its routes and the OpenAPI description
//! generated from them (the platform adds the shared error responses and
//! serves the document at `/openapi.json`).

pub mod products;
pub mod reservations;

use shop_common::openapi::BearerAuth;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop product service", description = "Catalog, prices, stock and stock reservations. Errors are problem+json (RFC 9457). Integers in JSON bodies are written as integers (`2`; `2.0` is refused)."),
    modifiers(&BearerAuth),
    tags(
        (name = "products", description = "The public catalog; writes need the admin role."),
        (name = "internal", description = "Service-to-service only; never routed by the gateway."),
    )
)]
struct ApiDoc;

/// The routes with the OpenAPI document they describe.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(products::list, products::create))
        .routes(routes!(products::get, products::patch))
        .routes(routes!(reservations::create))
        .routes(routes!(reservations::get))
        .routes(routes!(reservations::commit))
        .routes(routes!(reservations::release));
    PatchNeedsAValue.modify(router.get_openapi_mut());
    router
}

/// `ProductPatch` says what the derive cannot: a patch needs at least one
/// field with a value (`{}` and `{"name": null}` change nothing and are
/// refused). JSON Schema spells that "any of: `name` present and not null,
/// `description` present and not null, ...".
struct PatchNeedsAValue;

impl Modify for PatchNeedsAValue {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, Schema};
        let schema = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("ProductPatch"));
        let Some(RefOr::T(Schema::Object(patch))) = schema else {
            return;
        };
        let any_of: Vec<_> = patch
            .properties
            .keys()
            .map(|name| {
                serde_json::json!({
                    "required": [name],
                    "properties": { name: { "not": { "type": "null" } } },
                })
            })
            .collect();
        // utoipa's object schema has no `anyOf` beside `properties`; its
        // extensions are written into the schema object as they are.
        patch
            .extensions
            .get_or_insert_with(Default::default)
            .insert("anyOf".to_owned(), any_of.into());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use shop_api::product::MAX_PAGE_LIMIT;

    use crate::domain::{product, reservation};

    fn document() -> Value {
        serde_json::to_value(shop_common::service::openapi::<crate::Product>()).unwrap()
    }

    /// The limits the document states are the ones the domain enforces
    /// (utoipa's attributes take literals, so a change to a constant must
    /// be made in the schema too: this test says where).
    #[test]
    fn the_document_states_the_domains_limits() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let new = &schemas["NewProduct"]["properties"];
        assert_eq!(
            new["price"]["properties"]["amount"]["maximum"],
            product::MAX_PRICE
        );
        assert_eq!(new["stock"]["maximum"], product::MAX_STOCK);
        let patch = &schemas["ProductPatch"]["properties"];
        assert_eq!(patch["stock"]["maximum"], product::MAX_STOCK);
        assert_eq!(
            patch["price"]["oneOf"][0]["properties"]["amount"]["maximum"],
            product::MAX_PRICE
        );
        assert_eq!(
            schemas["ReservationRequest"]["properties"]["lines"]["maxItems"],
            reservation::MAX_LINES
        );
        assert_eq!(
            schemas["ReservationLineRequest"]["properties"]["quantity"]["maximum"],
            reservation::MAX_QUANTITY
        );
        let list = doc["paths"]["/v1/products"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let param = |name: &str| {
            list.iter()
                .find(|p| p["name"] == name)
                .map(|p| p["schema"].clone())
                .unwrap()
        };
        assert_eq!(param("limit")["maximum"], MAX_PAGE_LIMIT);
        assert_eq!(param("ids")["maxItems"], MAX_PAGE_LIMIT);
    }

    /// A patch that changes nothing is refused, and the document says so.
    #[test]
    fn the_patch_schema_needs_a_value() {
        let doc = document();
        let patch = &doc["components"]["schemas"]["ProductPatch"];
        let any_of = patch["anyOf"].as_array().unwrap();
        assert_eq!(
            any_of.len(),
            patch["properties"].as_object().unwrap().len(),
            "one alternative per field"
        );
    }

    /// A reader of the document learns that a product's stock may come
    /// from the read cache, how old it may be, and what is authoritative.
    #[test]
    fn the_product_read_says_how_old_its_stock_may_be() {
        let doc = document();
        let description = doc["paths"]["/v1/products/{id}"]["get"]["description"]
            .as_str()
            .unwrap_or_default()
            .replace('\n', " ");
        for words in [
            "stock may be up to `PRODUCT_CACHE_TTL_MS` old",
            "a reservation is the authority",
        ] {
            assert!(description.contains(words), "{words:?} in {description:?}");
        }
    }

    /// Links name operations by id, so ids must be unique.
    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "{ids:?}");
    }
}
