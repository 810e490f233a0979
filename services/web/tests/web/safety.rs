//! Sessions, CSRF, escaping, the security headers, the development switch,
//! and friendly pages when a service behind the store fails.

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use shop_common::testing::Fault;
use sqlx::PgPool;

use crate::helpers::{Store, dead_url, env_with};

/// Every POST form of the store, with fields that would otherwise pass.
fn forms(product: &str) -> Vec<(String, Vec<(&'static str, String)>)> {
    let order = uuid::Uuid::now_v7();
    vec![
        (
            "/cart/items".into(),
            vec![("product_id", product.into()), ("quantity", "1".into())],
        ),
        (
            format!("/cart/items/{product}"),
            vec![("quantity", "2".into())],
        ),
        (format!("/cart/items/{product}/remove"), vec![]),
        ("/checkout".into(), vec![("idempotency_key", "k-1".into())]),
        (format!("/orders/{order}/cancel"), vec![]),
        ("/sign-in".into(), vec![("name", "mallory".into())]),
        ("/sign-out".into(), vec![]),
        (
            "/admin/products".into(),
            vec![
                ("name", "Forged".into()),
                ("category", "kitchen".into()),
                ("price", "1".into()),
                ("currency", "EUR".into()),
                ("stock", "1".into()),
            ],
        ),
        (
            format!("/admin/products/{product}"),
            vec![
                ("version", "1".into()),
                ("price", "1".into()),
                ("currency", "EUR".into()),
                ("stock", "1".into()),
            ],
        ),
        (
            format!("/admin/products/{product}/archive"),
            vec![("version", "1".into())],
        ),
    ]
}

#[sqlx::test(migrations = false)]
async fn every_form_is_refused_without_its_sessions_csrf_token(db: PgPool) {
    let store = Store::new(db).await;
    let pan = store.product("Cast Iron Pan", 3499, 7).await;
    let browser = store.browser();
    let csrf = browser.sign_in("root", true).await;
    let other = store.browser().sign_in("eve", false).await;
    for (path, fields) in forms(&pan.id.to_string()) {
        for token in [None, Some(""), Some("forged"), Some(other.as_str())] {
            let mut sent: Vec<(&str, &str)> =
                fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Some(t) = token {
                sent.push(("csrf", t));
            }
            let page = browser.post(&path, &sent).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{path} with {token:?}");
            page.assert_contains("This form has expired");
        }
    }
    // Nothing changed: the cart is empty, the product as it was, still
    // signed in.
    browser
        .get("/cart")
        .await
        .assert_contains("Your cart is empty");
    assert_eq!(store.stock(pan.id).await, 7);
    browser.get("/").await.assert_contains("Catalog editor");
    // The same forms with the token do work (the test above is not passing
    // for some other reason): one of them, for instance.
    let done = browser
        .post(
            "/cart/items",
            &[
                ("csrf", &csrf),
                ("product_id", &pan.id.to_string()),
                ("quantity", "1"),
            ],
        )
        .await;
    assert_eq!(done.location(), "/cart");
}

#[sqlx::test(migrations = false)]
async fn sign_in_makes_a_new_http_only_session_and_sign_out_ends_it(db: PgPool) {
    let store = Store::new(db).await;
    let browser = store.browser();
    let form = browser.get("/sign-in").await;
    let cookie = |page: &crate::helpers::Page| page.header("set-cookie").to_owned();
    let visitor = cookie(&form);
    assert!(visitor.starts_with("shop_session="), "{visitor}");
    for part in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(visitor.contains(part), "{visitor} lacks {part}");
    }
    assert!(!visitor.contains("Secure"), "plain HTTP: {visitor}");
    let csrf = form.field("csrf");
    let signed_in = browser
        .post(
            "/sign-in",
            &[("csrf", &csrf), ("name", "alice"), ("next", "/cart")],
        )
        .await;
    assert_eq!(signed_in.location(), "/cart");
    let session = cookie(&signed_in);
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    let value = |c: &str| c.split(';').next().unwrap().to_owned();
    assert_ne!(
        value(&session),
        value(&visitor),
        "the session id changes at sign-in"
    );
    // The browser holds an id, never the token; the database holds only
    // the id's hash.
    assert!(!session.contains("eyJ"));
    let (hashes, tokens): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(token) FROM sessions WHERE user_id = 'alice'")
            .fetch_one(&store.web.db)
            .await
            .unwrap();
    assert_eq!((hashes, tokens), (1, 1));
    let stored_visitor: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id IS NULL")
            .fetch_one(&store.web.db)
            .await
            .unwrap();
    assert_eq!(stored_visitor, 0, "the visitor session ended at sign-in");
    // Behind TLS (as the gateway says), the cookie is Secure.
    let tls = reqwest::Client::new()
        .get(format!("{}/sign-in", store.web.url))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let tls_cookie = tls.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(tls_cookie.contains("Secure"), "{tls_cookie}");
    // Sign-out ends the session on the server: the old cookie, replayed by
    // hand, is nobody's.
    let csrf = browser.get("/cart").await.field("csrf");
    browser
        .post("/sign-out", &[("csrf", &csrf)])
        .await
        .location();
    let replayed = reqwest::Client::new()
        .get(format!("{}/cart", store.web.url))
        .header(COOKIE, value(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(browser.get("/cart").await.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = false)]
async fn sign_in_names_are_checked_and_next_stays_on_this_site(db: PgPool) {
    let store = Store::new(db).await;
    let browser = store.browser();
    let csrf = browser.get("/sign-in").await.field("csrf");
    let bad = browser
        .post("/sign-in", &[("csrf", &csrf), ("name", "<b>x</b>")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    bad.assert_contains("A name is 1 to 64 letters")
        .assert_contains("value=\"&#60;b&#62;x&#60;/b&#62;\"");
    let away = browser
        .post(
            "/sign-in",
            &[
                ("csrf", &csrf),
                ("name", "alice"),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(away.location(), "/");
}

#[sqlx::test(migrations = false)]
async fn without_the_development_switch_sign_in_explains_and_refuses(db: PgPool) {
    let store = Store::with(db, |s| web::Settings {
        dev_sign_in: false,
        ..s
    })
    .await;
    let browser = store.browser();
    let page = browser.get("/sign-in").await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_contains("OpenID Connect")
        .assert_lacks("name=\"name\"");
    assert!(page.header("set-cookie").is_empty(), "no session is made");
    let refused = browser.post("/sign-in", &[("name", "alice")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    refused.assert_contains("Development sign-in is switched off");
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&store.web.db)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
}

#[test]
fn the_development_switch_needs_development_mode() {
    let mut env = env_with(&[("WEB_DEV_SIGN_IN", "true")]);
    let config = web::Config::from_env(&mut env);
    let err = env.finish(config).unwrap_err().to_string();
    assert!(err.contains("WEB_DEV_SIGN_IN"), "{err}");

    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../dev/keys/dev-private.pem"
    );
    let public = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/keys/dev-public.pem");
    let on = |key: Option<&str>| {
        let mut vars = vec![("WEB_DEV_SIGN_IN", "true"), ("DEVELOPMENT_MODE", "true")];
        vars.extend(key.map(|k| ("WEB_DEV_SIGNING_KEY_FILE", k)));
        let mut env = env_with(&vars);
        let config = web::Config::from_env(&mut env);
        env.finish(config).map_err(|e| e.to_string())
    };
    let config = on(Some(key)).expect("valid");
    assert!(config.settings.dev_sign_in && config.settings.dev_signing_key.is_some());
    for bad in [None, Some(public), Some("/no/such/key.pem")] {
        let err = on(bad).unwrap_err();
        assert!(err.contains("WEB_DEV_SIGNING_KEY_FILE"), "{bad:?}: {err}");
    }

    let mut env = env_with(&[("DEVELOPMENT_MODE", "true")]);
    let config = web::Config::from_env(&mut env);
    assert!(
        !env.finish(config).expect("valid").settings.dev_sign_in,
        "off by default"
    );

    for (name, value) in [
        ("WEB_SESSION_TTL_SECS", "10"),
        ("WEB_SESSION_TTL_SECS", "90000"),
        ("WEB_TRACE_URL", "jaeger:16686"),
    ] {
        let mut env = env_with(&[("DEVELOPMENT_MODE", "true"), (name, value)]);
        let config = web::Config::from_env(&mut env);
        let err = env.finish(config).unwrap_err().to_string();
        assert!(err.contains(name), "{name}={value}: {err}");
    }
}

#[sqlx::test(migrations = false)]
async fn pages_escape_what_they_show_and_allow_no_inline_script(db: PgPool) {
    let store = Store::new(db).await;
    let evil = store
        .product("<script>alert(1)</script> & \"friends\"", 100, 1)
        .await;
    let browser = store.browser();
    for path in [
        "/".to_owned(),
        format!("/products/{}", evil.id),
        "/?q=<script>".to_owned(),
    ] {
        let page = browser.get(&path).await;
        page.assert_lacks("<script>")
            .assert_contains("&#60;script&#62;");
        let csp = page.header("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert_eq!(page.header("cache-control"), "no-store");
    }
    // Error pages too, framework-made ones included.
    for path in ["/nowhere", "/products/x"] {
        let page = browser.get(path).await;
        assert!(
            page.header("content-security-policy")
                .contains("default-src 'none'")
        );
    }
    let method = browser
        .http
        .put(format!("{}/cart", store.web.url))
        .send()
        .await
        .unwrap();
    assert_eq!(method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        method.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[sqlx::test(migrations = false)]
async fn a_service_down_is_a_friendly_503_page(db: PgPool) {
    let (dead, _held) = dead_url().await;
    let store = Store::with(db, |s| web::Settings {
        product_url: dead.clone(),
        order_url: dead.clone(),
        ..s
    })
    .await;
    let browser = store.browser();
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.header("content-type").starts_with("text/html"));
    assert_eq!(page.header("retry-after"), "1");
    page.assert_contains("Temporarily unavailable")
        .assert_contains("The product service is unavailable right now")
        .assert_lacks("Connection refused")
        .assert_lacks("127.0.0.1");
    // The cart still works (its service is up), and the orders page fails
    // on its own.
    browser.sign_in_at("/cart", "alice").await;
    browser
        .get("/cart")
        .await
        .assert_contains("Your cart is empty");
    let orders = browser.get("/orders").await;
    assert_eq!(orders.status, StatusCode::SERVICE_UNAVAILABLE);
    orders.assert_contains("The order service is unavailable");
}

#[sqlx::test(migrations = false)]
async fn the_cart_says_when_its_prices_may_be_out_of_date(db: PgPool) {
    let store = Store::new(db).await;
    let pan = store.product("Cast Iron Pan", 3499, 7).await;
    let browser = store.browser();
    let csrf = browser.sign_in("alice", false).await;
    browser.add(&csrf, pan.id, "1").await;
    store
        .cart_to_product
        .fault(reqwest::Method::GET, "/v1/products*", Fault::Fail);
    browser
        .get("/cart")
        .await
        .assert_contains("Prices may be out of date")
        .assert_contains("34.99 EUR");
    store.cart_to_product.heal();
    browser
        .get("/cart")
        .await
        .assert_lacks("Prices may be out of date");
}

#[sqlx::test(migrations = false)]
async fn the_footer_links_the_trace_and_the_link_explains_itself(db: PgPool) {
    let store = Store::new(db).await;
    let browser = store.browser();
    let trace = "0af7651916cd43dd8448eb211c80319c";
    browser
        .get(&format!("/trace/{trace}"))
        .await
        .assert_contains(trace)
        .assert_contains("observability profile");
    assert_eq!(
        browser.get("/trace/zzz").await.status,
        StatusCode::NOT_FOUND
    );
    let ui = Store::with(store.web.db.clone(), |s| web::Settings {
        trace_url: Some("http://127.0.0.1:16686".into()),
        ..s
    })
    .await;
    let to = ui.browser().get(&format!("/trace/{trace}")).await;
    assert_eq!(
        to.location(),
        format!("http://127.0.0.1:16686/trace/{trace}")
    );
    // A page of a request that came with a trace context shows its trace.
    let traced = reqwest::Client::new()
        .get(format!("{}/", store.web.url))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        traced.contains(&format!("href=\"/trace/{trace}\"")),
        "{traced}"
    );
}
