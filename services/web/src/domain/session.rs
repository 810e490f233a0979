//! Sessions: the random id a browser holds, what the server keeps for it,
//! and the checks made on each request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie holding the session id.
pub const COOKIE: &str = "shop_session";

/// How long a session made for a visitor who has not signed in lives: long
/// enough to fill in the sign-in form.
pub const VISITOR_TTL_SECS: i64 = 3600;

/// 32 random bytes, URL-safe base64: unguessable, cookie-safe.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A session id as the browser holds it. Only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A session id is a credential: never in a log line.
        f.write_str("SessionId(..)")
    }
}

impl SessionId {
    /// A new, random id.
    pub fn new() -> Self {
        Self(random_token())
    }

    /// The id a cookie carries, if it has the shape of one (anything else
    /// is not looked up at all).
    pub fn parse(cookie: &str) -> Option<Self> {
        let shaped = cookie.len() == 43
            && cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shaped.then(|| Self(cookie.to_owned()))
    }

    /// The cookie's value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of the session's row: SHA-256 of the id, so the table alone
    /// does not let anyone present a live session.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

/// A new CSRF token for a session.
pub fn new_csrf_token() -> String {
    random_token()
}

/// Who a session belongs to, once signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: String,
    pub admin: bool,
    /// The bearer token the APIs are called with on the user's behalf.
    pub token: String,
}

/// A session as the server keeps it.
#[derive(Debug, Clone)]
pub struct Session {
    pub csrf_token: String,
    pub user: Option<SignedIn>,
}

impl Session {
    /// Whether `presented` (a form's `csrf` field) is this session's token,
    /// compared in constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        !presented.is_empty() && bool::from(self.csrf_token.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// Why a name cannot be signed in with.
pub const NAME_RULE: &str = "1 to 64 letters, digits, dots, dashes or underscores";

/// A user name for development sign-in: it becomes the token's `sub`, the
/// owner of carts and orders.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_cookie_safe_and_parse_back() {
        let a = SessionId::new();
        let b = SessionId::new();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.hash().len(), 32);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn ids_of_another_shape_are_not_looked_up() {
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}!", "a".repeat(42)),
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn csrf_tokens_match_only_themselves() {
        let s = Session {
            csrf_token: new_csrf_token(),
            user: None,
        };
        assert!(s.csrf_matches(&s.csrf_token.clone()));
        assert!(!s.csrf_matches(""));
        assert!(!s.csrf_matches(&new_csrf_token()));
        assert!(!s.csrf_matches(&s.csrf_token[..10]));
    }

    #[test]
    fn names_follow_the_rule() {
        for good in ["alice", "bob.smith", "a-1_b", &"x".repeat(64)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "a b", "<script>", "ü", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
