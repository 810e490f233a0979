//! Keyset pagination shared by every list endpoint: opaque cursors and the
//! page-size rule.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use shop_api::FieldError;
use shop_api::product::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use uuid::Uuid;

/// Encodes the keyset position after `id` as an opaque cursor. Opaque so
/// clients cannot build cursors, and the server may change what is inside.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Decodes a cursor this service issued.
pub fn decode_cursor(cursor: &str) -> Result<Uuid, FieldError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| FieldError {
            field: "cursor".into(),
            message: "is not a cursor this service issued".into(),
        })
}

/// The page size: `DEFAULT_PAGE_LIMIT` when absent, at most `MAX_PAGE_LIMIT`.
pub fn page_limit(limit: Option<u32>) -> Result<u32, FieldError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if (1..=MAX_PAGE_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(FieldError {
            field: "limit".into(),
            message: format!("must be between 1 and {MAX_PAGE_LIMIT}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Ok(id));
        assert!(decode_cursor("not-a-cursor!").is_err());
        assert!(decode_cursor("AAAA").is_err());
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(page_limit(None), Ok(20));
        assert_eq!(page_limit(Some(100)), Ok(100));
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(101)).is_err());
    }
}
