//! The parts of every service's OpenAPI document that come from the
//! platform rather than from a handler.
//!
//! A handler's `#[utoipa::path]` lists what the handler decides: its
//! success responses, and the errors of its own rules (404, 409, 412, a 422
//! for a business rule, a 403 for the admin role). Other errors come from
//! the platform and can meet any operation: a path or query value that does
//! not parse (400), a missing or bad credential (401), a body that is not
//! JSON (415) or too large (413), headers too large (431), load shedding,
//! timeouts and an unavailable database (503). [`ProblemResponses`] adds
//! those to every operation they apply to, so the documents list every
//! status a client can get without each handler repeating them, and gives
//! every error response the problem+json schema.

use shop_api::problem::{FieldError, PROBLEM_JSON, Problem};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Response, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// The platform's error responses, added to every operation of a document
/// (run it on the finished document, once every route is in).
pub struct ProblemResponses;

/// The errors any operation can meet, whatever it does.
const EVERYWHERE: &[(u16, &str)] = &[
    (
        400,
        "Malformed request: a path or query value that does not parse, a missing \
         or unknown query parameter, or NUL (`%00`) in the URL",
    ),
    (431, "The request's header fields are too large"),
    (
        503,
        "Overloaded, timed out, shutting down, or a dependency (such as the database) \
         is unavailable; retry after `Retry-After` seconds",
    ),
];

/// The errors of an operation that needs a credential.
const SECURED: &[(u16, &str)] = &[(
    401,
    "No credential, or one that does not verify (expired, wrong issuer, audience or key)",
)];

/// The errors of an operation for other services only (security scheme
/// `service`).
const INTERNAL: &[(u16, &str)] = &[(
    403,
    "A user token, admin or not: internal routes need the service credential",
)];

/// The errors of an operation that reads a JSON body.
const WITH_BODY: &[(u16, &str)] = &[
    (
        413,
        "The body is larger than the service accepts (`BODY_LIMIT_BYTES`)",
    ),
    (415, "The body is not `application/json`"),
    (
        422,
        "The body is not a JSON object of the documented shape (a missing, unknown or \
         invalid field, NUL in a string), or breaks a rule",
    ),
];

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, schema) in [
            (Problem::name(), Problem::schema()),
            (FieldError::name(), FieldError::schema()),
        ] {
            components
                .schemas
                .entry(name.into_owned())
                .or_insert(schema);
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                add_platform_errors(op);
            }
        }
    }
}

fn add_platform_errors(op: &mut Operation) {
    let schemes = security_schemes(op);
    let mut add = |errors: &[(u16, &str)]| {
        for (status, description) in errors {
            op.responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::T(Response::new(*description)));
        }
    };
    add(EVERYWHERE);
    if !schemes.is_empty() {
        add(SECURED);
    }
    if schemes.iter().any(|s| s == "service") {
        add(INTERNAL);
    }
    if op.request_body.is_some() {
        add(WITH_BODY);
    }
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let Ok(code) = status.parse::<u16>() else {
            continue;
        };
        if code >= 400 {
            as_problem(code, response);
        }
    }
}

/// An error response as the services send it: problem+json, a description,
/// and the headers the platform adds for that status.
fn as_problem(status: u16, response: &mut Response) {
    if response.description.is_empty() {
        response.description = default_description(status).to_owned();
    }
    response.content.clear();
    response.content.insert(
        PROBLEM_JSON.to_owned(),
        RefOr::T(
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::name())))
                .build(),
        ),
    );
    let header = match status {
        401 => Some((
            "WWW-Authenticate",
            "`Bearer`: the scheme the service expects",
        )),
        503 => Some(("Retry-After", "Seconds to wait before retrying")),
        _ => None,
    };
    if let Some((name, description)) = header {
        response.headers.entry(name.to_owned()).or_insert_with(|| {
            RefOr::T(
                HeaderBuilder::new()
                    .schema(Some(Schema::Object(
                        ObjectBuilder::new().schema_type(Type::String).build(),
                    )))
                    .description(Some(description))
                    .build(),
            )
        });
    }
}

fn default_description(status: u16) -> &'static str {
    match status {
        400 => "Malformed request",
        401 => "No credential, or one that does not verify",
        403 => "The credential lacks the needed permission",
        404 => "No such resource, or one the caller may not see",
        409 => "The resource's state does not allow this",
        412 => "`If-Match` did not match the current version",
        413 => "The body is too large",
        415 => "The body is not `application/json`",
        422 => "The request breaks a rule",
        _ => "An error (see the problem's `type`)",
    }
}

/// The names of the security schemes an operation accepts.
fn security_schemes(op: &Operation) -> Vec<String> {
    op.security
        .iter()
        .flatten()
        .filter_map(|req| serde_json::to_value(req).ok())
        .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::Modify;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::security::SecurityRequirement;
    use utoipa::openapi::{OpenApiBuilder, PathsBuilder};

    fn document(op: Operation) -> serde_json::Value {
        let mut api = OpenApiBuilder::new()
            .paths(PathsBuilder::new().path("/x", PathItem::new(HttpMethod::Post, op)))
            .build();
        ProblemResponses.modify(&mut api);
        serde_json::to_value(&api).unwrap()
    }

    fn statuses(doc: &serde_json::Value) -> Vec<String> {
        doc["paths"]["/x"]["post"]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn a_public_operation_without_body_gets_the_universal_errors() {
        let doc = document(OperationBuilder::new().build());
        assert_eq!(statuses(&doc), ["400", "431", "503"]);
        let bad = &doc["paths"]["/x"]["post"]["responses"]["400"];
        assert_eq!(
            bad["content"][PROBLEM_JSON]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert!(doc["components"]["schemas"]["Problem"].is_object());
        assert!(doc["components"]["schemas"]["FieldError"].is_object());
        let unavailable = &doc["paths"]["/x"]["post"]["responses"]["503"];
        assert!(unavailable["headers"]["Retry-After"].is_object());
    }

    #[test]
    fn an_internal_operation_with_a_body_gets_auth_and_body_errors() {
        let op = OperationBuilder::new()
            .security(SecurityRequirement::new("service", Vec::<String>::new()))
            .request_body(Some(RequestBodyBuilder::new().build()))
            .response("422", Response::new("Unknown products"))
            .build();
        let doc = document(op);
        assert_eq!(
            statuses(&doc),
            ["400", "401", "403", "413", "415", "422", "431", "503"]
        );
        let responses = &doc["paths"]["/x"]["post"]["responses"];
        assert_eq!(
            responses["422"]["description"], "Unknown products",
            "a handler's own description is kept"
        );
        assert!(responses["401"]["headers"]["WWW-Authenticate"].is_object());
    }

    #[test]
    fn a_handlers_error_without_description_gets_one() {
        let op = OperationBuilder::new()
            .response("404", Response::new(""))
            .build();
        let doc = document(op);
        let not_found = &doc["paths"]["/x"]["post"]["responses"]["404"];
        assert!(!not_found["description"].as_str().unwrap().is_empty());
        assert!(not_found["content"][PROBLEM_JSON].is_object());
    }
}

/// Adds the `bearer` (user JWT) and `service` (service credential) security
/// schemes to a service's OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "service",
            SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
