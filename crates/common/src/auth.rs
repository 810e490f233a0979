//! Who is calling: bearer JWT verification for users and admins, and the
//! service credential that guards `/internal/...` routes.
//!
//! Handlers take an extractor as an argument ([`User`], [`Admin`],
//! [`Service`]); a handler without one is public. The owner of anything is
//! always `User::id` (the token's `sub`), never a field of the body.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use moka::Expiry;
use moka::sync::Cache;
use shop_api::auth::{ADMIN_ROLE, Claims, DEV_INTERNAL_TOKEN, DEV_PUBLIC_KEY_PEM};
use subtle::ConstantTimeEq;

use crate::config::Env;
use crate::error::{ApiError, ProblemType};

/// The shortest service credential accepted, so a typo cannot make it
/// guessable.
pub const MIN_INTERNAL_TOKEN_LEN: usize = 32;

/// The longest lifetime (`exp - iat`) a token may have unless
/// `AUTH_MAX_TOKEN_TTL` says otherwise: a day, so a stolen token is
/// worth little for long.
pub const DEFAULT_MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// How auth is configured. A service without a key, issuer, audience or
/// service credential refuses to start.
#[derive(Clone)]
pub struct AuthConfig {
    /// The default public key, ES256 PEM (SPKI): verifies tokens without a
    /// `kid` header. Empty when only keyed ones are configured.
    pub public_key_pem: String,
    /// Public keys selected by a token's `kid` header (`AUTH_JWT_PUBLIC_KEYS_DIR`),
    /// so a signing key can be rotated without a flag day.
    pub keys_by_kid: Vec<(String, String)>,
    pub issuer: String,
    pub audience: String,
    /// The shared secret services present on `/internal/...` calls.
    pub internal_token: String,
    /// Tokens living longer than this (`exp - iat`) are refused.
    pub max_token_ttl: Duration,
}

impl Default for AuthConfig {
    /// Nothing configured (a service refuses to start so), with the default
    /// token lifetime.
    fn default() -> Self {
        Self {
            public_key_pem: String::new(),
            keys_by_kid: Vec::new(),
            issuer: String::new(),
            audience: String::new(),
            internal_token: String::new(),
            max_token_ttl: DEFAULT_MAX_TOKEN_TTL,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field(
                "kids",
                &self.keys_by_kid.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("max_token_ttl", &self.max_token_ttl)
            .field("internal_token", &"<redacted>")
            .finish()
    }
}

/// True when two PEM texts hold the same key (whitespace aside).
fn same_pem(a: &str, b: &str) -> bool {
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    squash(a) == squash(b)
}

/// True for a usable key id: what a file name and a JWT header both carry.
fn is_kid(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl AuthConfig {
    /// Reads `AUTH_JWT_PUBLIC_KEY` (or `AUTH_JWT_PUBLIC_KEY_FILE`),
    /// `AUTH_JWT_PUBLIC_KEYS_DIR`, `AUTH_ISSUER`, `AUTH_AUDIENCE`,
    /// `AUTH_MAX_TOKEN_TTL` (seconds), `INTERNAL_TOKEN` and
    /// `DEVELOPMENT_MODE`.
    ///
    /// The committed development key and the development service credential
    /// are refused unless `DEVELOPMENT_MODE=true`: they are public, so a
    /// deployment that trusts them trusts anyone.
    pub fn from_env(env: &mut Env) -> Self {
        let keys_by_kid = Self::keys_dir(env);
        let public_key_pem = match (
            env.raw("AUTH_JWT_PUBLIC_KEY"),
            env.raw("AUTH_JWT_PUBLIC_KEY_FILE"),
        ) {
            (Some(pem), _) => pem.replace("\\n", "\n"),
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(pem) => pem,
                Err(e) => {
                    let path = path.to_owned();
                    env.check(
                        false,
                        "AUTH_JWT_PUBLIC_KEY_FILE",
                        &format!("cannot be read ({path}): {e}"),
                    );
                    String::new()
                }
            },
            (None, None) => {
                env.check(
                    !keys_by_kid.is_empty(),
                    "AUTH_JWT_PUBLIC_KEY",
                    "or AUTH_JWT_PUBLIC_KEY_FILE or AUTH_JWT_PUBLIC_KEYS_DIR is required but not set",
                );
                String::new()
            }
        };
        if !public_key_pem.is_empty() {
            let ok = DecodingKey::from_ec_pem(public_key_pem.as_bytes()).is_ok();
            env.check(
                ok,
                "AUTH_JWT_PUBLIC_KEY",
                "is not an EC public key in PEM form",
            );
        }
        let issuer = env.required("AUTH_ISSUER");
        let audience = env.required("AUTH_AUDIENCE");
        let max_token_ttl = env.secs("AUTH_MAX_TOKEN_TTL", DEFAULT_MAX_TOKEN_TTL.as_secs());
        env.check(
            max_token_ttl >= Duration::from_secs(60),
            "AUTH_MAX_TOKEN_TTL",
            "must be at least 60 seconds",
        );
        let internal_token: String = env.required("INTERNAL_TOKEN");
        if !internal_token.is_empty() {
            env.check(
                internal_token.len() >= MIN_INTERNAL_TOKEN_LEN,
                "INTERNAL_TOKEN",
                &format!("must be at least {MIN_INTERNAL_TOKEN_LEN} characters"),
            );
        }
        let development: bool = env.optional("DEVELOPMENT_MODE", false);
        if !development {
            let dev_key = same_pem(&public_key_pem, DEV_PUBLIC_KEY_PEM)
                || keys_by_kid
                    .iter()
                    .any(|(_, pem)| same_pem(pem, DEV_PUBLIC_KEY_PEM));
            env.check(
                !dev_key,
                "AUTH_JWT_PUBLIC_KEY",
                "is the committed development key, which anyone can sign with: configure your \
                 own key, or set DEVELOPMENT_MODE=true on a development stack",
            );
            env.check(
                internal_token != DEV_INTERNAL_TOKEN,
                "INTERNAL_TOKEN",
                "is the public development credential: set a secret of your own, or \
                 DEVELOPMENT_MODE=true on a development stack",
            );
        }
        Self {
            public_key_pem,
            keys_by_kid,
            issuer,
            audience,
            internal_token,
            max_token_ttl,
        }
    }

    /// `AUTH_JWT_PUBLIC_KEYS_DIR`: one `<kid>.pem` file per key.
    fn keys_dir(env: &mut Env) -> Vec<(String, String)> {
        let Some(dir) = env.raw("AUTH_JWT_PUBLIC_KEYS_DIR").map(str::to_owned) else {
            return Vec::new();
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                env.check(
                    false,
                    "AUTH_JWT_PUBLIC_KEYS_DIR",
                    &format!("cannot be read ({dir}): {e}"),
                );
                return Vec::new();
            }
        };
        let mut keys = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            // Kubernetes mounts Secrets with `..data` links beside the files.
            let Some(kid) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".pem"))
                .filter(|k| !k.starts_with('.'))
            else {
                continue;
            };
            let pem = std::fs::read_to_string(&path).unwrap_or_default();
            let ok = is_kid(kid) && DecodingKey::from_ec_pem(pem.as_bytes()).is_ok();
            env.check(
                ok,
                "AUTH_JWT_PUBLIC_KEYS_DIR",
                &format!(
                    "{}: each file must be <kid>.pem (kid: 1 to 64 of A-Z a-z 0-9 . _ -) holding an EC public key",
                    path.display()
                ),
            );
            if ok {
                keys.push((kid.to_owned(), pem));
            }
        }
        keys.sort();
        env.check(
            !keys.is_empty(),
            "AUTH_JWT_PUBLIC_KEYS_DIR",
            &format!("holds no <kid>.pem key ({dir})"),
        );
        keys
    }
}

/// The verifier every request goes through.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    default_key: Option<DecodingKey>,
    by_kid: HashMap<String, DecodingKey>,
    validation: Validation,
    max_token_ttl: Duration,
    internal_token: String,
    /// Tokens that passed every check, by their whole text, until they
    /// expire (see [`VERIFIED_TOKENS`]).
    verified: Cache<String, Arc<Claims>>,
}

/// How many verified tokens are remembered. An ES256 signature check costs
/// tens of microseconds of CPU (the largest per-request cost of a cheap
/// request), and a client sends the same token on every request until it
/// expires. Keyed by the whole token, so a hit is the very text that was
/// verified; bounded, so a flood of distinct tokens only evicts (each of
/// those still pays the full check, exactly as without the cache).
pub const VERIFIED_TOKENS: u64 = 4096;

/// A verified token is forgotten when it expires (`exp`), so the cache
/// never lets through a token the full check would refuse for its age.
struct UntilExpiry;

impl Expiry<String, Arc<Claims>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _token: &String,
        claims: &Arc<Claims>,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(seconds_left(claims))
    }
}

/// Whole seconds until `claims` expire (zero once they have).
fn seconds_left(claims: &Claims) -> Duration {
    let left = claims.exp - chrono::Utc::now().timestamp();
    Duration::from_secs(u64::try_from(left).unwrap_or(0))
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth")
    }
}

impl Auth {
    /// Builds the verifier; fails on a key that does not parse.
    pub fn new(config: &AuthConfig) -> anyhow::Result<Self> {
        let default_key = if config.public_key_pem.is_empty() {
            None
        } else {
            Some(DecodingKey::from_ec_pem(config.public_key_pem.as_bytes())?)
        };
        let by_kid = config
            .keys_by_kid
            .iter()
            .map(|(kid, pem)| Ok((kid.clone(), DecodingKey::from_ec_pem(pem.as_bytes())?)))
            .collect::<anyhow::Result<HashMap<_, _>>>()?;
        anyhow::ensure!(
            default_key.is_some() || !by_kid.is_empty(),
            "no public key to verify tokens with"
        );
        // The algorithm is pinned: a token that says `none` or `HS256` (the
        // classic key-confusion attack) fails before its signature is read.
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // A token not valid yet (`nbf` in the future) is refused too.
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Self {
            inner: Arc::new(Inner {
                default_key,
                by_kid,
                validation,
                max_token_ttl: config.max_token_ttl,
                internal_token: config.internal_token.clone(),
                verified: Cache::builder()
                    .max_capacity(VERIFIED_TOKENS)
                    .expire_after(UntilExpiry)
                    .build(),
            }),
        })
    }

    /// Verifies a user token and returns its claims. A token verified
    /// before and not expired yet is answered from memory.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        if let Some(claims) = self.inner.verified.get(token)
            && seconds_left(&claims) > Duration::ZERO
        {
            return Ok(Claims::clone(&claims));
        }
        let claims = self.verify_fully(token)?;
        self.inner
            .verified
            .insert(token.to_owned(), Arc::new(claims.clone()));
        Ok(claims)
    }

    /// The full check: header, key, signature, claims, lifetime, subject.
    fn verify_fully(&self, token: &str) -> Result<Claims, ApiError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unauthorized("invalid bearer token"))?;
        let key = match &header.kid {
            Some(kid) => self
                .inner
                .by_kid
                .get(kid)
                .ok_or_else(|| unauthorized("the token's key id (kid) is not known"))?,
            None => self
                .inner
                .default_key
                .as_ref()
                .ok_or_else(|| unauthorized("the token names no key id (kid)"))?,
        };
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.inner.validation).map_err(|e| {
                tracing::debug!(error = %e, "token refused");
                unauthorized("invalid bearer token")
            })?;
        let claims = data.claims;
        let issued = claims.iat.unwrap_or_else(|| chrono::Utc::now().timestamp());
        let lifetime = claims.exp.saturating_sub(issued);
        if lifetime > self.inner.max_token_ttl.as_secs() as i64 {
            return Err(unauthorized(
                "the token lives longer than this service accepts (AUTH_MAX_TOKEN_TTL)",
            ));
        }
        let sub = &claims.sub;
        if sub.is_empty() || sub.len() > 255 {
            return Err(unauthorized("token subject must be 1 to 255 characters"));
        }
        // The subject becomes a key in every database; PostgreSQL refuses
        // NUL in text, and control characters have no place in an id.
        if sub.chars().any(char::is_control) {
            return Err(unauthorized(
                "token subject must not contain control characters",
            ));
        }
        Ok(claims)
    }

    /// True when `token` is the service credential (compared in constant
    /// time so its bytes cannot be guessed one by one).
    pub fn is_service_token(&self, token: &str) -> bool {
        !self.inner.internal_token.is_empty()
            && bool::from(token.as_bytes().ct_eq(self.inner.internal_token.as_bytes()))
    }

    /// The service credential, for this service's own internal calls.
    pub fn service_token(&self) -> &str {
        &self.inner.internal_token
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(ProblemType::Unauthorized, detail)
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing bearer token"))?
        .to_str()
        .map_err(|_| unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized("expected a bearer token"));
    }
    Ok(token.trim())
}

/// An authenticated user (any valid token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The token's `sub`: the owner of carts and orders.
    pub id: String,
    pub admin: bool,
}

impl<S> FromRequestParts<S> for User
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let claims = Auth::from_ref(state).verify(bearer(parts)?)?;
        Ok(User {
            admin: claims.roles.iter().any(|r| r == ADMIN_ROLE),
            id: claims.sub,
        })
    }
}

/// An authenticated user with the admin role; other users get 403.
#[derive(Debug, Clone)]
pub struct Admin(pub User);

impl<S> FromRequestParts<S> for Admin
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = User::from_request_parts(parts, state).await?;
        if !user.admin {
            return Err(ApiError::new(
                ProblemType::Forbidden,
                "this needs the admin role",
            ));
        }
        Ok(Admin(user))
    }
}

/// Another Shop service, proven by the service credential. User tokens,
/// admin or not, are refused: internal routes are not part of the public
/// API.
#[derive(Debug, Clone, Copy)]
pub struct Service;

impl<S> FromRequestParts<S> for Service
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        let auth = Auth::from_ref(state);
        if auth.is_service_token(token) {
            Ok(Service)
        } else if auth.verify(token).is_ok() {
            Err(ApiError::new(
                ProblemType::Forbidden,
                "internal routes need the service credential",
            ))
        } else {
            Err(unauthorized("internal routes need the service credential"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_api::auth::{DEV_AUDIENCE, DEV_ISSUER, dev};

    fn config() -> AuthConfig {
        AuthConfig {
            public_key_pem: DEV_PUBLIC_KEY_PEM.to_owned(),
            issuer: DEV_ISSUER.to_owned(),
            audience: DEV_AUDIENCE.to_owned(),
            internal_token: "x".repeat(MIN_INTERNAL_TOKEN_LEN),
            ..AuthConfig::default()
        }
    }

    fn sign(claims: serde_json::Value, kid: Option<&str>) -> String {
        let key =
            jsonwebtoken::EncodingKey::from_ec_pem(dev::DEV_PRIVATE_KEY_PEM.as_bytes()).unwrap();
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    fn claims(extra: serde_json::Value) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        let mut c = serde_json::json!({
            "sub": "alice", "iss": DEV_ISSUER, "aud": DEV_AUDIENCE,
            "iat": now, "exp": now + 600,
        });
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let auth = Auth::new(&config()).unwrap();
        let now = chrono::Utc::now().timestamp();
        assert!(
            auth.verify(&sign(claims(serde_json::json!({})), None))
                .is_ok()
        );
        let later = sign(claims(serde_json::json!({"nbf": now + 3600})), None);
        assert!(auth.verify(&later).is_err(), "nbf an hour from now");
        let already = sign(claims(serde_json::json!({"nbf": now - 10})), None);
        assert!(auth.verify(&already).is_ok());
    }

    #[test]
    fn tokens_living_longer_than_the_maximum_are_refused() {
        let auth = Auth::new(&AuthConfig {
            max_token_ttl: Duration::from_secs(3600),
            ..config()
        })
        .unwrap();
        let now = chrono::Utc::now().timestamp();
        let long = sign(claims(serde_json::json!({"exp": now + 7200})), None);
        assert!(auth.verify(&long).is_err(), "two hours > one");
        let no_iat = claims(serde_json::json!({"exp": now + 7200}));
        let mut no_iat = no_iat.as_object().unwrap().clone();
        no_iat.remove("iat");
        assert!(
            auth.verify(&sign(serde_json::Value::Object(no_iat), None))
                .is_err(),
            "without iat, the time left counts"
        );
        let fine = sign(claims(serde_json::json!({"exp": now + 1800})), None);
        assert!(auth.verify(&fine).is_ok());
    }

    #[test]
    fn keys_are_selected_by_kid_for_rotation() {
        // Only keyed keys: the old key is `2026-a`, the new one `2026-b`
        // (the same key material here; what matters is the selection).
        let rotated = AuthConfig {
            public_key_pem: String::new(),
            keys_by_kid: vec![
                ("2026-a".into(), DEV_PUBLIC_KEY_PEM.into()),
                ("2026-b".into(), DEV_PUBLIC_KEY_PEM.into()),
            ],
            ..config()
        };
        let auth = Auth::new(&rotated).unwrap();
        let c = claims(serde_json::json!({}));
        assert!(auth.verify(&sign(c.clone(), Some("2026-a"))).is_ok());
        assert!(auth.verify(&sign(c.clone(), Some("2026-b"))).is_ok());
        assert!(
            auth.verify(&sign(c.clone(), Some("2025-z"))).is_err(),
            "unknown kid"
        );
        assert!(
            auth.verify(&sign(c.clone(), None)).is_err(),
            "no default key"
        );
        // With a default key too, tokens without a kid use it.
        let both = AuthConfig {
            public_key_pem: DEV_PUBLIC_KEY_PEM.into(),
            ..rotated
        };
        assert!(Auth::new(&both).unwrap().verify(&sign(c, None)).is_ok());
    }

    #[test]
    fn a_keys_directory_is_read_by_file_name() {
        let dir = std::env::temp_dir().join(format!("shop-keys-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("2026-b.pem"), DEV_PUBLIC_KEY_PEM).unwrap();
        std::fs::write(dir.join("..data"), "ignored").unwrap();
        let mut env = Env::from_map(
            [
                ("AUTH_JWT_PUBLIC_KEYS_DIR", dir.to_str().unwrap()),
                ("AUTH_ISSUER", "i"),
                ("AUTH_AUDIENCE", "a"),
                ("INTERNAL_TOKEN", &"t".repeat(40)),
                ("DEVELOPMENT_MODE", "true"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let config = AuthConfig::from_env(&mut env);
        let config = env.finish(config).unwrap();
        assert_eq!(config.keys_by_kid.len(), 1);
        assert_eq!(config.keys_by_kid[0].0, "2026-b");
        std::fs::write(dir.join("bad kid!.pem"), DEV_PUBLIC_KEY_PEM).unwrap();
        let mut env = Env::from_map(
            [("AUTH_JWT_PUBLIC_KEYS_DIR", dir.to_str().unwrap())]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let config = AuthConfig::from_env(&mut env);
        let err = env.finish(config).unwrap_err().to_string();
        assert!(err.contains("bad kid!.pem"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_verified_cache_answers_only_the_very_token_it_verified() {
        let auth = Auth::new(&config()).unwrap();
        let good = sign(claims(serde_json::json!({})), None);
        assert_eq!(auth.verify(&good).unwrap().sub, "alice");
        assert!(auth.inner.verified.contains_key(&good), "remembered");
        assert_eq!(auth.verify(&good).unwrap().sub, "alice", "from the cache");
        // The same header and claims with another signature: a cache keyed
        // by anything less than the whole token would let it through.
        let (signed, signature) = good.rsplit_once('.').unwrap();
        // (The first character: the last one carries padding bits.)
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{first}{}", &signature[1..]);
        let forged = format!("{signed}.{forged}");
        assert!(auth.verify(&forged).is_err());
        assert!(
            !auth.inner.verified.contains_key(&forged),
            "a refusal is not kept"
        );
        // A refusal is never remembered as a success, nor the reverse.
        let other = sign(claims(serde_json::json!({"sub": "bob"})), None);
        assert_eq!(auth.verify(&other).unwrap().sub, "bob");
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires_and_no_longer() {
        let now = chrono::Utc::now().timestamp();
        let at = |exp: i64| Claims {
            sub: "alice".into(),
            iss: "i".into(),
            aud: "a".into(),
            exp,
            iat: None,
            roles: Vec::new(),
        };
        assert_eq!(seconds_left(&at(now - 5)), Duration::ZERO, "expired");
        let left = seconds_left(&at(now + 600));
        assert!(left <= Duration::from_secs(600) && left >= Duration::from_secs(590));
        // A token just past `exp` still passes the full check (30 s of
        // leeway), but is not remembered: each use pays the full check,
        // which refuses it once the leeway is over too.
        let auth = Auth::new(&config()).unwrap();
        let late = sign(claims(serde_json::json!({"exp": now - 5})), None);
        assert!(auth.verify(&late).is_ok(), "within the leeway");
        assert!(!auth.inner.verified.contains_key(&late), "not remembered");
        let fresh = sign(claims(serde_json::json!({})), None);
        auth.verify(&fresh).unwrap();
        assert!(auth.inner.verified.contains_key(&fresh));
    }
}
