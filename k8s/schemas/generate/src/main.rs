//! Writes the JSON schemas k8s/validate.sh checks Gateway API objects
//! against, one file per kind and version, named the way kubeconform looks
//! them up (`<group>/<kind>_<version>.json`, the kind in lower case).
//!
//! Each schema is derived from the `gateway-api` crate's Rust types, which
//! kopium generated from the Gateway API standard-channel CRDs, so it knows
//! every field of the published v1 API with its type, which fields are
//! required and the allowed values of every enumeration. It is made strict
//! as kubeconform's are (an unknown field is an error). What the types do
//! not carry is not checked: the CRDs' patterns, length and item limits,
//! defaults and CEL rules (the API server applies those); see ../README.md.

use std::path::Path;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

const GROUP: &str = "gateway.networking.k8s.io";

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(GROUP);
    std::fs::create_dir_all(&out).expect("create the schema directory");
    let schemas = [
        (
            "GatewayClass",
            "v1",
            object::<
                gateway_api::gatewayclasses::GatewayClassSpec,
                gateway_api::gatewayclasses::GatewayClassStatus,
            >("GatewayClass", "v1"),
        ),
        (
            "Gateway",
            "v1",
            object::<gateway_api::gateways::GatewaySpec, gateway_api::gateways::GatewayStatus>(
                "Gateway", "v1",
            ),
        ),
        (
            "HTTPRoute",
            "v1",
            object::<
                gateway_api::httproutes::HttpRouteSpec,
                gateway_api::httproutes::HttpRouteStatus,
            >("HTTPRoute", "v1"),
        ),
    ];
    for (kind, version, schema) in schemas {
        let path = out.join(format!("{}_{version}.json", kind.to_lowercase()));
        let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
        text.push('\n');
        std::fs::write(&path, text).expect("write the schema");
        println!("{}", path.display());
    }
}

/// The schema of one kind: apiVersion and kind fixed, metadata an object
/// (the API server validates it, as kubeconform leaves it), spec required.
fn object<S: JsonSchema, T: JsonSchema>(kind: &str, version: &str) -> Value {
    let mut spec = schema_of::<S>();
    let mut status = schema_of::<T>();
    strict(&mut spec);
    strict(&mut status);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": format!(
            "{kind} {GROUP}/{version}, from the gateway-api crate 0.22.0 (Gateway API v1.5.1, \
             standard channel): k8s/schemas/README.md"
        ),
        "type": "object",
        "required": ["apiVersion", "kind", "spec"],
        "properties": {
            "apiVersion": { "type": "string", "enum": [format!("{GROUP}/{version}")] },
            "kind": { "type": "string", "enum": [kind] },
            "metadata": { "type": "object" },
            "spec": spec,
            "status": status,
        },
        "additionalProperties": false,
    })
}

/// One type's schema with every subschema inlined, and optional fields as
/// the CRDs have them (absent, never `null`).
fn schema_of<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    let schema: Schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Some(map) = value.as_object_mut() {
        map.remove("$schema");
        map.remove("title");
    }
    value
}

/// Every object with named properties rejects other properties, as the
/// structural schemas of CRDs do (kubeconform's strict mode does the same),
/// and an optional field may be left out but is never `null` (schemars
/// allows `null` for every `Option`).
fn strict(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            strip_titles(map);
            no_null(map);
            for child in map.values_mut() {
                strict(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

/// `"type": ["string", "null"]` becomes `"type": "string"`, and an `anyOf`
/// of one schema and `null` becomes that schema.
fn no_null(map: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".to_owned(), only);
        }
    }
    if let Some(Value::Array(options)) = map.get_mut("anyOf") {
        options.retain(|o| o.get("type").is_none_or(|t| t != "null"));
        if options.len() == 1 {
            let Some(Value::Object(only)) = map
                .remove("anyOf")
                .and_then(|mut a| a.as_array_mut().map(|a| a.remove(0)))
            else {
                return;
            };
            for (key, value) in only {
                map.entry(key).or_insert(value);
            }
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
}

/// schemars names each inlined type in a `title`; the CRDs have none.
fn strip_titles(map: &mut Map<String, Value>) {
    if map.get("title").is_some_and(Value::is_string) {
        map.remove("title");
    }
}
