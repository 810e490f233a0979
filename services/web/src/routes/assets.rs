//! The stylesheet, compiled into the binary and served under a name that
//! carries a hash of its content (`/static/style.<hash>.css`): browsers may
//! keep it for a year, and a new build's stylesheet has a new name, so no
//! one ever sees a stale one.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::{Error, secure_headers};

const STYLESHEET: &str = include_str!("../../static/style.css");

/// The first 16 hex digits of the stylesheet's SHA-256.
static STYLESHEET_HASH: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLESHEET.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
});

/// Where pages link the stylesheet.
pub static STYLESHEET_PATH: LazyLock<String> =
    LazyLock::new(|| format!("/static/style.{}.css", *STYLESHEET_HASH));

/// `GET /static/{file}`: the stylesheet under its current name; anything
/// else (an old hash included) is 404.
pub async fn file(Path(file): Path<String>) -> Result<Response, Error> {
    if format!("/static/{file}") != *STYLESHEET_PATH {
        return Err(Error::NotFound("file"));
    }
    let mut resp = (StatusCode::OK, STYLESHEET).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    secure_headers(headers);
    Ok(resp)
}
