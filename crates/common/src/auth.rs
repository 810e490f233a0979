//! Who is calling: bearer JWT verification for users and admins, and the
//! service credential that guards `/internal/...` routes.
//!
//! Handlers take an extractor as an argument ([`User`], [`Admin`],
//! [`Service`]); a handler without one is public. The owner of anything is
//! always `User::id` (the token's `sub`), never a field of the body.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use shop_api::auth::{ADMIN_ROLE, Claims};
use subtle::ConstantTimeEq;

use crate::config::Env;
use crate::error::{ApiError, ProblemType};

/// The shortest service credential accepted, so a typo cannot make it
/// guessable.
pub const MIN_INTERNAL_TOKEN_LEN: usize = 32;

/// How auth is configured. Every field is required: a service without auth
/// configuration refuses to start.
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// The issuer's ES256 public key, PEM (SPKI).
    pub public_key_pem: String,
    pub issuer: String,
    pub audience: String,
    /// The shared secret services present on `/internal/...` calls.
    pub internal_token: String,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("internal_token", &"<redacted>")
            .finish()
    }
}

impl AuthConfig {
    /// Reads `AUTH_JWT_PUBLIC_KEY` (or `AUTH_JWT_PUBLIC_KEY_FILE`),
    /// `AUTH_ISSUER`, `AUTH_AUDIENCE` and `INTERNAL_TOKEN`.
    pub fn from_env(env: &mut Env) -> Self {
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
                    false,
                    "AUTH_JWT_PUBLIC_KEY",
                    "or AUTH_JWT_PUBLIC_KEY_FILE is required but not set",
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
        let internal_token: String = env.required("INTERNAL_TOKEN");
        if !internal_token.is_empty() {
            env.check(
                internal_token.len() >= MIN_INTERNAL_TOKEN_LEN,
                "INTERNAL_TOKEN",
                &format!("must be at least {MIN_INTERNAL_TOKEN_LEN} characters"),
            );
        }
        Self {
            public_key_pem,
            issuer,
            audience,
            internal_token,
        }
    }
}

/// The verifier every request goes through.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    key: DecodingKey,
    validation: Validation,
    internal_token: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth")
    }
}

impl Auth {
    /// Builds the verifier; fails on a key that does not parse.
    pub fn new(config: &AuthConfig) -> anyhow::Result<Self> {
        let key = DecodingKey::from_ec_pem(config.public_key_pem.as_bytes())?;
        // The algorithm is pinned: a token that says `none` or `HS256` (the
        // classic key-confusion attack) fails before its signature is read.
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Ok(Self {
            inner: Arc::new(Inner {
                key,
                validation,
                internal_token: config.internal_token.clone(),
            }),
        })
    }

    /// Verifies a user token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.inner.key, &self.inner.validation)
            .map_err(|e| {
            tracing::debug!(error = %e, "token refused");
            unauthorized("invalid bearer token")
        })?;
        let sub = &data.claims.sub;
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
        Ok(data.claims)
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
