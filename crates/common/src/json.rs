//! Request bodies: [`JsonObject`], the one body extractor every service
//! uses, and the rules it adds to plain `axum::Json`.
//!
//! - The body must be a JSON **object**. serde happily reads a struct from a
//!   JSON array (`[1]` as `{"quantity": 1}`), which no client means; a body
//!   that is not an object gets a 422 problem.
//! - No string in it may contain a NUL character (`\u0000`). PostgreSQL
//!   refuses NUL in text, so such a value would otherwise reach the
//!   database and come back as a 500; it gets a 422 naming the field.
//!
//! URLs get the same NUL rule in [`reject_nul_in_url`] (a 400, since a
//! query is not a body).
//!
//! Why the `Content-Type` check is written here, not left to axum: the body
//! rules need the raw bytes before serde sees them, so the extractor reads
//! `Bytes` and deserializes with `axum::Json::from_bytes`, which does not
//! look at headers. `axum::Json`'s own content-type test
//! (`json_content_type`) is private, and axum exposes no function for it;
//! the check below accepts what that one does (`application/json` and any
//! `application/*+json`, parameters ignored) and answers a registered 415
//! problem.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use shop_api::{FieldError, ProblemType};

use crate::error::ApiError;

/// A JSON object request body, deserialized into `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonObject<T>(pub T);

impl<T, S> FromRequest<S> for JsonObject<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                ProblemType::UnsupportedMediaType,
                "expected a request with Content-Type: application/json",
            )
            .into_response());
        }
        // The body limit layer applies here: too large is a 413.
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        check_object(&bytes).map_err(IntoResponse::into_response)?;
        let axum::Json(value) =
            axum::Json::<T>::from_bytes(&bytes).map_err(IntoResponse::into_response)?;
        Ok(Self(value))
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The body's own rules, before serde sees it: an object, and no NUL.
fn check_object(bytes: &[u8]) -> Result<(), ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::validation(vec![FieldError {
            field: String::new(),
            message: "the body must be a JSON object".into(),
        }]));
    }
    if has_escaped_nul(bytes) {
        // Rare, so it may cost a full parse: name the field it is in.
        let field = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| nul_path(&v, ""))
            .unwrap_or_default();
        return Err(ApiError::validation(vec![FieldError {
            field,
            message: "must not contain NUL characters (\\u0000)".into(),
        }]));
    }
    Ok(())
}

/// True when the JSON text holds the escape `\u0000`. A raw NUL byte is
/// not valid JSON (serde refuses it), so the escape is the only way in;
/// it is an escape when preceded by an odd number of backslashes
/// (`\\u0000` is a backslash followed by the text `u0000`).
pub fn has_escaped_nul(bytes: &[u8]) -> bool {
    bytes.windows(5).enumerate().any(|(i, w)| {
        w == b"u0000" && bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
    })
}

/// The dotted path of the first string (or key) holding NUL.
fn nul_path(v: &serde_json::Value, at: &str) -> Option<String> {
    let join = |k: &str| {
        if at.is_empty() {
            k.to_owned()
        } else {
            format!("{at}.{k}")
        }
    };
    match v {
        serde_json::Value::String(s) if s.contains('\0') => Some(at.to_owned()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &join(&i.to_string()))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "\\u0000")))
            } else {
                nul_path(item, &join(k))
            }
        }),
        _ => None,
    }
}

/// Middleware: a URL whose path or query holds a percent-encoded NUL
/// (`%00`) is refused with 400 before any handler (or the database) sees
/// it. No Shop URL has a use for NUL.
pub async fn reject_nul_in_url(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let holds_nul = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if holds_nul(uri.path()) || uri.query().is_some_and(holds_nul) {
        return ApiError::new(
            ProblemType::BadRequest,
            "the URL must not contain NUL characters (%00)",
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_pass() {
        for ok in [&b"{}"[..], b"  {\"a\": [1]}", b"\n{\"quantity\": 1}"] {
            assert!(check_object(ok).is_ok(), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [&b"[1]"[..], b"1", b"\"x\"", b"null", b"", b"  [{}]"] {
            assert!(
                check_object(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn an_escaped_nul_is_found_and_named_and_a_literal_one_is_not() {
        assert!(has_escaped_nul(br#"{"a":"x\u0000"}"#));
        assert!(
            has_escaped_nul(br#"{"a":"\\\u0000"}"#),
            "escaped backslash, then NUL"
        );
        assert!(!has_escaped_nul(br#"{"a":"\\u0000"}"#), "the text \\u0000");
        assert!(!has_escaped_nul(br#"{"a":"u0000"}"#));
        let e = check_object(br#"{"price": {"currency": "E\u0000R"}}"#).unwrap_err();
        assert_eq!(e.0.errors[0].field, "price.currency");
        let e = check_object(br#"{"lines": [{"n": "ok"}, {"n": "\u0000"}]}"#).unwrap_err();
        assert_eq!(e.0.errors[0].field, "lines.1.n");
        assert_eq!(e.0.status, 422);
    }
}
