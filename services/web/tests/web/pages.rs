//! The pages show what they should, and the forms do what they say: the
//! catalog, a product, the cart, checkout, orders, cancel, the editor.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::Store;

#[sqlx::test(migrations = false)]
async fn the_catalog_shows_prices_stock_and_what_is_sold_out(db: PgPool) {
    let store = Store::new(db).await;
    let pan = store.product("Cast Iron Pan", 3499, 7).await;
    store.product("Sold Out Kettle", 1999, 0).await;
    let page = store.browser().get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    page.assert_contains("Cast Iron Pan")
        .assert_contains("34.99 EUR")
        .assert_contains("7 in stock")
        .assert_contains("Sold Out Kettle")
        .assert_contains("Out of stock")
        .assert_contains(&format!("href=\"/products/{}\"", pan.id))
        // Not signed in: no form to add with, a way to sign in instead.
        .assert_lacks("action=\"/cart/items\"")
        .assert_contains("href=\"/sign-in\"");
}

#[sqlx::test(migrations = false)]
async fn search_category_and_pages_narrow_the_catalog(db: PgPool) {
    let store = Store::new(db).await;
    store.product_in("Garden Hose", "garden", 2500, 3).await;
    store.product_in("Kitchen Scale", "kitchen", 1500, 3).await;
    for i in 0..30 {
        store
            .product_in(&format!("Book {i:02}"), "books", 900, 1)
            .await;
    }
    let browser = store.browser();
    browser
        .get("/?q=hose")
        .await
        .assert_contains("Garden Hose")
        .assert_lacks("Kitchen Scale");
    browser
        .get("/?category=kitchen")
        .await
        .assert_contains("Kitchen Scale")
        .assert_lacks("Garden Hose");
    // 32 products, 24 a page: a next page with the rest, none after it.
    let first = browser.get("/?category=books").await;
    let next = first
        .body
        .split("rel=\"next\"")
        .next()
        .and_then(|before| before.rsplit("href=\"").next())
        .map(|href| href.trim_end_matches("\" ").replace("&#38;", "&"))
        .expect("a next link");
    assert!(next.starts_with("/?category=books&cursor="), "{next}");
    let second = browser.get(&next).await;
    assert_eq!(second.status, StatusCode::OK);
    let books = |body: &str| body.matches("<h2><a href=\"/products/").count();
    assert_eq!(books(&first.body) + books(&second.body), 30);
    second.assert_lacks("rel=\"next\"");
}

#[sqlx::test(migrations = false)]
async fn a_product_page_shows_it_and_an_unknown_one_is_a_404_page(db: PgPool) {
    let store = Store::new(db).await;
    let pan = store.product("Cast Iron Pan", 3499, 7).await;
    let browser = store.browser();
    browser
        .get(&format!("/products/{}", pan.id))
        .await
        .assert_contains("<h1>Cast Iron Pan</h1>")
        .assert_contains("Cast Iron Pan, for tests.");
    for path in [
        format!("/products/{}", uuid::Uuid::now_v7()),
        "/products/not-a-uuid".to_owned(),
        "/no/such/page".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            page.header("content-type").starts_with("text/html"),
            "{path}"
        );
        page.assert_contains("Not found");
        // The footer's request id is the one the response names.
        let id = page.header("x-request-id").to_owned();
        assert!(!id.is_empty());
        page.assert_contains(&format!("Request <code>{id}</code>"));
    }
}

#[sqlx::test(migrations = false)]
async fn a_cart_is_filled_changed_and_emptied_through_its_forms(db: PgPool) {
    let store = Store::new(db).await;
    let pan = store.product("Cast Iron Pan", 3499, 7).await;
    let lid = store.product("Glass Lid", 1250, 7).await;
    let browser = store.browser();
    let csrf = browser.sign_in("alice", false).await;
    for id in [pan.id, lid.id, pan.id] {
        let done = browser
            .post(
                "/cart/items",
                &[
                    ("csrf", &csrf),
                    ("product_id", &id.to_string()),
                    ("quantity", "1"),
                ],
            )
            .await;
        assert_eq!(done.location(), "/cart");
    }
    // Adding the pan twice made a line of 2.
    browser
        .get("/cart")
        .await
        .assert_contains("value=\"2\"")
        .assert_contains("69.98 EUR")
        .assert_contains("12.50 EUR")
        .assert_contains("82.48 EUR")
        .assert_lacks("Prices may be out of date");
    let path = format!("/cart/items/{}", pan.id);
    browser
        .post(&path, &[("csrf", &csrf), ("quantity", "3")])
        .await
        .location();
    browser
        .get("/cart")
        .await
        .assert_contains("104.97 EUR")
        .assert_contains("117.47 EUR");
    browser
        .post(&format!("{path}/remove"), &[("csrf", &csrf)])
        .await
        .location();
    browser
        .get("/cart")
        .await
        .assert_lacks("Cast Iron Pan")
        .assert_contains("Glass Lid");
    // A quantity the cart API would refuse is refused here first, as a page.
    let bad = browser
        .post(&path, &[("csrf", &csrf), ("quantity", "100")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    bad.assert_contains("a quantity is 1 to 99");
}

#[sqlx::test(migrations = false)]
async fn the_same_checkout_form_submitted_twice_makes_one_order(db: PgPool) {
    let store = Store::new(db).await;
    let pan = store.product("Cast Iron Pan", 3499, 7).await;
    let browser = store.browser();
    let csrf = browser.sign_in("alice", false).await;
    browser.add(&csrf, pan.id, "2").await;
    let cart = browser.get("/cart").await;
    let key = cart.field("idempotency_key");
    let form = [("csrf", csrf.as_str()), ("idempotency_key", key.as_str())];
    // A double click: both submissions at once, then a third later (back
    // and submit again).
    let (a, b) = tokio::join!(
        browser.post("/checkout", &form),
        browser.post("/checkout", &form)
    );
    let again = browser.post("/checkout", &form).await;
    let order = a.location().to_owned();
    assert!(order.starts_with("/orders/"), "{order}");
    assert_eq!(b.location(), order);
    assert_eq!(again.location(), order);
    let orders = browser.get("/orders").await;
    assert_eq!(
        orders.body.matches("href=\"/orders/0").count(),
        1,
        "{}",
        orders.body
    );
    assert_eq!(store.stock(pan.id).await, 5);
    browser
        .get(&order)
        .await
        .assert_contains("confirmed")
        .assert_contains("Cast Iron Pan")
        .assert_contains("69.98 EUR");
    // A new rendering of the cart page is a new checkout: its key differs.
    assert_ne!(
        browser.get("/cart").await.fields("idempotency_key"),
        vec![key]
    );
    let metrics = store.web.metrics().await;
    let ordered = metrics
        .lines()
        .find(|l| l.starts_with("web_checkouts_total{") && l.contains(r#"outcome="ordered""#));
    assert!(ordered.is_some_and(|l| l.ends_with(" 3")), "{metrics}");
}

#[sqlx::test(migrations = false)]
async fn cancelling_an_order_returns_its_stock(db: PgPool) {
    let store = Store::new(db).await;
    let pan = store.product("Cast Iron Pan", 3499, 7).await;
    let browser = store.browser();
    let csrf = browser.sign_in("alice", false).await;
    browser.add(&csrf, pan.id, "3").await;
    let key = browser.get("/cart").await.field("idempotency_key");
    let order = browser
        .post("/checkout", &[("csrf", &csrf), ("idempotency_key", &key)])
        .await
        .location()
        .to_owned();
    assert_eq!(store.stock(pan.id).await, 4);
    browser.get(&order).await.assert_contains("id=\"cancel\"");
    let done = browser
        .post(&format!("{order}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(done.location(), order);
    browser
        .get(&order)
        .await
        .assert_contains("cancelled")
        .assert_lacks("id=\"cancel\"");
    assert_eq!(store.stock(pan.id).await, 7);
    // Another user sees no such order.
    let bob = store.browser();
    bob.sign_in("bob", false).await;
    assert_eq!(bob.get(&order).await.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = false)]
async fn an_empty_cart_or_missing_stock_refuses_the_checkout_as_a_page(db: PgPool) {
    let store = Store::new(db).await;
    let pan = store.product("Cast Iron Pan", 3499, 1).await;
    let browser = store.browser();
    let csrf = browser.sign_in("alice", false).await;
    browser
        .get("/cart")
        .await
        .assert_contains("Your cart is empty")
        .assert_lacks("idempotency_key");
    browser.add(&csrf, pan.id, "2").await;
    let key = browser.get("/cart").await.field("idempotency_key");
    let refused = browser
        .post("/checkout", &[("csrf", &csrf), ("idempotency_key", &key)])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    refused.assert_contains("That did not work");
    assert_eq!(store.stock(pan.id).await, 1);
}

#[sqlx::test(migrations = false)]
async fn administrators_create_change_and_archive_products(db: PgPool) {
    let store = Store::new(db).await;
    let browser = store.browser();
    let csrf = browser.sign_in("root", true).await;
    let created = browser
        .post(
            "/admin/products",
            &[
                ("csrf", &csrf),
                ("name", "Copper Pot"),
                ("description", "Shiny."),
                ("category", "kitchen"),
                ("price", "45.5"),
                ("currency", "EUR"),
                ("stock", "4"),
            ],
        )
        .await;
    assert_eq!(created.location(), "/admin?done=created");
    let editor = browser.get("/admin?done=created").await;
    editor
        .assert_contains("Product created.")
        .assert_contains("Copper Pot")
        .assert_contains("value=\"45.50\"");
    let id = editor
        .body
        .split("action=\"/admin/products/")
        .nth(1)
        .unwrap()[..36]
        .to_owned();
    let version = editor.field("version");
    let saved = browser
        .post(
            &format!("/admin/products/{id}"),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("price", "39.99"),
                ("currency", "EUR"),
                ("stock", "9"),
            ],
        )
        .await;
    assert_eq!(saved.location(), "/admin?done=saved");
    store
        .browser()
        .get("/")
        .await
        .assert_contains("39.99 EUR")
        .assert_contains("9 in stock");
    // The page's version is now stale: a change based on it is refused.
    let stale = browser
        .post(
            &format!("/admin/products/{id}/archive"),
            &[("csrf", &csrf), ("version", &version)],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let version = browser.get("/admin").await.field("version");
    let archived = browser
        .post(
            &format!("/admin/products/{id}/archive"),
            &[("csrf", &csrf), ("version", &version)],
        )
        .await;
    assert_eq!(archived.location(), "/admin?done=archived");
    store.browser().get("/").await.assert_lacks("Copper Pot");
    assert_eq!(
        store.browser().get(&format!("/products/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrations = false)]
async fn the_editor_is_for_administrators_only(db: PgPool) {
    let store = Store::new(db).await;
    let anonymous = store.browser().get("/admin").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    anonymous.assert_contains("href=\"/sign-in?next=/admin\"");
    let browser = store.browser();
    let csrf = browser.sign_in("alice", false).await;
    browser.get("/").await.assert_lacks("href=\"/admin\"");
    assert_eq!(browser.get("/admin").await.status, StatusCode::FORBIDDEN);
    let refused = browser
        .post(
            "/admin/products",
            &[
                ("csrf", &csrf),
                ("name", "Sneaky"),
                ("category", "kitchen"),
                ("price", "1"),
                ("currency", "EUR"),
                ("stock", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    store.browser().get("/").await.assert_lacks("Sneaky");
}

#[sqlx::test(migrations = false)]
async fn the_stylesheet_is_served_by_its_hash_and_kept_for_a_year(db: PgPool) {
    let store = Store::new(db).await;
    let browser = store.browser();
    let page = browser.get("/").await;
    let href = page
        .body
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a stylesheet link")
        .to_owned();
    assert!(
        href.starts_with("/static/style.") && href.ends_with(".css"),
        "{href}"
    );
    let css = browser.get(&href).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").starts_with("text/css"));
    assert_eq!(
        css.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(css.body.contains("font-family"));
    let old = browser.get("/static/style.0000000000000000.css").await;
    assert_eq!(old.status, StatusCode::NOT_FOUND);
}
