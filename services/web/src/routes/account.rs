//! Signing in and out, and the footer's trace link.
//!
//! Sign-in here is for development only: a "sign in as" form that mints a
//! token for any name with the committed development key, switched on by
//! `WEB_DEV_SIGN_IN=true` (which needs `DEVELOPMENT_MODE=true`). In
//! production the same place would redirect to an identity provider
//! (OpenID Connect) and keep the token it returns in the same server-side
//! session; nothing else in the store would change.

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::{CsrfForm, Visit};
use crate::db;
use crate::domain::session::{
    COOKIE, NAME_RULE, Session, SessionId, SignedIn, VISITOR_TTL_SECS, new_csrf_token, valid_name,
};
use crate::error::{Error, WebError, render};
use crate::pages::{SignInPage, TracePage};
use crate::state::AppState;

/// Whether `path` is a path of this site (`/orders`), not another site
/// (`//evil.example`, `https://…`): where sign-in may send the browser on.
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')
}

/// The session cookie: HttpOnly (no script reads it), SameSite=Lax (not
/// sent on another site's POST), Secure over TLS. No Max-Age: it lasts
/// while the browser runs, and the server ends the session at its expiry.
fn session_cookie(id: &SessionId, visit: &Visit) -> Cookie<'static> {
    Cookie::build((COOKIE, id.as_str().to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(visit.over_tls)
        .path("/")
        .build()
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    pub next: Option<String>,
}

fn next_or_home(next: Option<&str>) -> String {
    next.filter(|n| is_local_path(n)).unwrap_or("/").to_owned()
}

/// `GET /sign-in`: the form (with a visitor session made for its CSRF
/// token), or, with development sign-in off, how sign-in works in
/// production.
pub async fn sign_in_form(
    State(state): State<AppState>,
    mut visit: Visit,
    Query(query): Query<NextQuery>,
) -> Result<Response, Error> {
    let next = next_or_home(query.next.as_deref());
    let enabled = state.settings.dev_sign_in;
    let mut jar = CookieJar::new();
    if enabled && visit.session.is_none() {
        let id = SessionId::new();
        let session = Session {
            csrf_token: new_csrf_token(),
            user: None,
        };
        let expires = chrono::Utc::now() + chrono::Duration::seconds(VISITOR_TTL_SECS);
        db::sessions::insert(&state.db, &id, &session, expires).await?;
        jar = jar.add(session_cookie(&id, &visit));
        visit.id = Some(id);
        visit.session = Some(session);
    }
    let page = SignInPage {
        chrome: visit.chrome("Sign in"),
        enabled,
        error: None,
        name: String::new(),
        next,
    };
    Ok((jar, render(StatusCode::OK, &page)).into_response())
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    pub name: String,
    #[serde(default)]
    pub admin: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
}

/// `POST /sign-in`: a new session for the name (the old one ends: a
/// session id known before sign-in is never one that is signed in), then
/// on to where the person was going.
pub async fn sign_in(State(state): State<AppState>, req: Request) -> Result<Response, Response> {
    let key = match (&state.settings.dev_sign_in, &state.settings.dev_signing_key) {
        (true, Some(key)) => key.clone(),
        _ => return Err(Error::Service(WebError::SignInOff).into_response()),
    };
    let CsrfForm { visit, form } = CsrfForm::<SignInForm>::from_request(req, &state).await?;
    let name = form.name.trim();
    let next = next_or_home(form.next.as_deref());
    if !valid_name(name) {
        let page = SignInPage {
            chrome: visit.chrome("Sign in"),
            enabled: true,
            error: Some(format!("A name is {NAME_RULE}.")),
            name: name.to_owned(),
            next,
        };
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let admin = form.admin.as_deref() == Some("true");
    let ttl = state.settings.session_ttl;
    let signed_in = SignedIn {
        user_id: name.to_owned(),
        admin,
        token: shop_api::auth::dev::sign(
            &shop_api::auth::dev::claims(name, admin, ttl.as_secs() as i64),
            &key,
        )
        .map_err(|e| {
            Error::from(WebError::BadForm(format!("cannot sign a token: {e}"))).into_response()
        })?,
    };
    let id = SessionId::new();
    let session = Session {
        csrf_token: new_csrf_token(),
        user: Some(signed_in),
    };
    let expires = chrono::Utc::now() + ttl;
    let stored = async {
        if let Some(old) = &visit.id {
            db::sessions::delete(&state.db, old).await?;
        }
        db::sessions::insert(&state.db, &id, &session, expires).await
    };
    stored.await.map_err(|e| Error::from(e).into_response())?;
    state
        .business
        .sessions
        .with_label_values(&["sign_in"])
        .inc();
    tracing::info!(user = name, admin, "signed in");
    let jar = CookieJar::new().add(session_cookie(&id, &visit));
    Ok((jar, Redirect::to(&next)).into_response())
}

/// `POST /sign-out`: ends the session, here and in the browser.
pub async fn sign_out(
    State(state): State<AppState>,
    CsrfForm { visit, .. }: CsrfForm<super::cart::NoFields>,
) -> Result<Response, Error> {
    if let Some(id) = &visit.id {
        db::sessions::delete(&state.db, id).await?;
    }
    state
        .business
        .sessions
        .with_label_values(&["sign_out"])
        .inc();
    let jar = CookieJar::new().remove(Cookie::build(COOKIE).path("/"));
    Ok((jar, Redirect::to("/")).into_response())
}

/// `GET /trace/{trace_id}`: the footer's link. To the tracing UI when one
/// is configured (`WEB_TRACE_URL`), else a page saying how to turn it on.
pub async fn trace(
    State(state): State<AppState>,
    visit: Visit,
    Path(trace_id): Path<String>,
) -> Result<Response, Error> {
    let valid = trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(Error::NotFound("trace"));
    }
    if let Some(ui) = &state.settings.trace_url {
        return Ok(Redirect::to(&format!("{ui}/trace/{trace_id}")).into_response());
    }
    let page = TracePage {
        chrome: visit.chrome("Trace"),
        trace_id,
    };
    Ok(render(StatusCode::OK, &page))
}
