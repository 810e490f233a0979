//! The storefront's pages and forms. Every page is a GET; every change is a
//! POST form (no JavaScript needed) answered with a redirect to a page
//! (POST/redirect/GET), so a reload never repeats a change.
//!
//! Two extractors carry the rules every handler needs, so none can forget
//! them: [`Visit`] (who is asking: the session from the cookie, the
//! request id) and [`CsrfForm`] (a POST form whose CSRF token matched the
//! session's; a handler of a POST cannot get its form any other way).

pub mod account;
pub mod admin;
pub mod assets;
pub mod cart;
pub mod catalog;
pub mod orders;

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;
use shop_common::error::ApiError;
use shop_common::request_id::REQUEST_ID_HEADER;
use utoipa_axum::router::OpenApiRouter;

use crate::db;
use crate::domain::session::{COOKIE, Session, SessionId, SignedIn};
use crate::error::{Error, WebError};
use crate::pages::Chrome;
use crate::state::AppState;

/// Every page and form. None is part of an API, so none is in the OpenAPI
/// document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/", get(catalog::index))
        .route("/products/{id}", get(catalog::product))
        .route("/cart", get(cart::show))
        .route("/cart/items", post(cart::add))
        .route("/cart/items/{product_id}", post(cart::set_quantity))
        .route("/cart/items/{product_id}/remove", post(cart::remove))
        .route("/checkout", post(cart::checkout))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::show))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route(
            "/sign-in",
            get(account::sign_in_form).post(account::sign_in),
        )
        .route("/sign-out", post(account::sign_out))
        .route("/admin", get(admin::show))
        .route("/admin/products", post(admin::create))
        .route("/admin/products/{id}", post(admin::update))
        .route("/admin/products/{id}/archive", post(admin::archive))
        .route("/trace/{trace_id}", get(account::trace))
        .route("/static/{file}", get(assets::file))
}

/// Who is asking: the session the cookie names (if it is live), and the
/// request's id for the footer.
#[derive(Debug, Clone)]
pub struct Visit {
    pub id: Option<SessionId>,
    pub session: Option<Session>,
    pub request_id: String,
    /// Whether the browser reached us over TLS (as the gateway or ingress
    /// in front says): cookies are then `Secure`.
    pub over_tls: bool,
}

impl Visit {
    /// The signed-in user, or a 401 page with a sign-in link.
    pub fn user(&self) -> Result<&SignedIn, Error> {
        self.session
            .as_ref()
            .and_then(|s| s.user.as_ref())
            .ok_or_else(|| WebError::SignInNeeded.into())
    }

    /// The signed-in administrator, or 401 / 403.
    pub fn admin(&self) -> Result<&SignedIn, Error> {
        let user = self.user()?;
        if !user.admin {
            return Err(WebError::AdminOnly.into());
        }
        Ok(user)
    }

    /// The page frame for this visit.
    pub fn chrome(&self, title: impl Into<String>) -> Chrome {
        let user = self.session.as_ref().and_then(|s| s.user.as_ref());
        Chrome {
            user: user.map(|u| u.user_id.clone()),
            admin: user.is_some_and(|u| u.admin),
            csrf: self
                .session
                .as_ref()
                .map(|s| s.csrf_token.clone())
                .unwrap_or_default(),
            request_id: self.request_id.clone(),
            trace_id: shop_common::telemetry::current_trace_id(),
            title: title.into(),
        }
    }
}

impl<S> FromRequestParts<S> for Visit
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(visit) = parts.extensions.get::<Visit>() {
            return Ok(visit.clone());
        }
        let state = AppState::from_ref(state);
        let jar = CookieJar::from_headers(&parts.headers);
        let id = jar.get(COOKIE).and_then(|c| SessionId::parse(c.value()));
        let session = match &id {
            Some(id) => db::sessions::find(&state.db, id).await?,
            None => None,
        };
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let visit = Visit {
            id: session.as_ref().and(id),
            session,
            request_id: header(REQUEST_ID_HEADER),
            over_tls: header("x-forwarded-proto").eq_ignore_ascii_case("https"),
        };
        parts.extensions.insert(visit.clone());
        Ok(visit)
    }
}

/// A form with its CSRF token: the `csrf` field must equal the session's
/// token (a synchronizer token, compared in constant time). Another site
/// can make a browser POST here, cookies and all (SameSite=Lax stops most
/// of that, not all), but cannot read a page to learn the token.
pub struct CsrfForm<T> {
    pub visit: Visit,
    pub form: T,
}

/// The one field every POST form carries.
#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let (mut parts, body) = req.into_parts();
        let visit = Visit::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let presented: CsrfField = serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField {
            csrf: String::new(),
        });
        let matches = visit
            .session
            .as_ref()
            .is_some_and(|s| s.csrf_matches(&presented.csrf));
        if !matches {
            return Err(Error::from(WebError::FormExpired).into_response());
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| {
            ApiError::from(Error::from(WebError::BadForm(format!(
                "the form is not valid: {e}"
            ))))
            .into_response()
        })?;
        Ok(Self { visit, form })
    }
}
