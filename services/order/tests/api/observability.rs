//! Observability proven, not only configured: product, cart, order and the
//! storefront run as the binaries they ship as (real processes, each with
//! its own tracer provider and its own `service.name`), and traffic through
//! them shows
//!
//! - in traces: a checkout is one trace, the caller's, in which order's
//!   server span is the child of the caller's span, every call to a peer is
//!   a client span of the caller's service with the peer's server span
//!   under it, and every span's parent is in the trace, as an OTLP/HTTP
//!   receiver in this process gets them;
//! - in metrics: every service's `/metrics` passes `promtool check metrics`;
//! - in logs: every line a service logs while it handles a request (the
//!   calls made for another service's request included) carries that
//!   request's `request_id`, the one its `x-request-id` response header
//!   names, and its `trace_id`.
//!
//! See docs/observability.md.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use shop_api::product::NewProduct;
use shop_api::{CartClient, Money, ProductClient};
use shop_common::testing::{
    self, ANY_PORT, OtlpReceiver, ReceivedSpan, Scratch, ServiceProcess, SpanKind, render_tree,
};
use uuid::Uuid;

use crate::helpers::{admin_token, user_token};

/// Product, cart, order and the storefront as processes, each over a
/// scratch database of its own (which it migrates at start-up, as it does
/// in production), each given `env` on top of the addresses of those it
/// calls.
struct Processes {
    product: ServiceProcess,
    cart: ServiceProcess,
    order: ServiceProcess,
    web: ServiceProcess,
    http: reqwest::Client,
    _databases: Vec<Scratch>,
}

impl Processes {
    async fn start(env: &[(&str, String)]) -> Self {
        let mut databases = Vec::new();
        let mut start = async |binary: &str, peers: &[(&'static str, String)]| {
            let database = testing::empty_database().await;
            let mut all = peers.to_vec();
            all.extend(env.iter().cloned());
            let process =
                ServiceProcess::start(binary, &database.url, (ANY_PORT, ANY_PORT), &all).await;
            databases.push(database);
            process
        };
        let binary = |name| testing::service_binary(name).to_string_lossy().into_owned();
        let product = start(&binary("product"), &[]).await;
        let cart = start(&binary("cart"), &[("PRODUCT_URL", product.url(""))]).await;
        let peers = [("PRODUCT_URL", product.url("")), ("CART_URL", cart.url(""))];
        let order = start(env!("CARGO_BIN_EXE_order"), &peers).await;
        let mut peers = peers.to_vec();
        peers.push(("ORDER_URL", order.url("")));
        let web = start(&binary("web"), &peers).await;
        Self {
            product,
            cart,
            order,
            web,
            http: reqwest::Client::new(),
            _databases: databases,
        }
    }

    /// A product with stock, created by an admin.
    async fn new_product(&self) -> Uuid {
        ProductClient::new(self.http.clone(), self.product.url(""))
            .with_bearer(admin_token())
            .create(&NewProduct {
                name: format!("Traced {}", Uuid::now_v7().simple()),
                description: String::new(),
                category: "misc".into(),
                price: Money::new(1250, "EUR"),
                stock: 10,
            })
            .await
            .expect("the admin creates a product")
            .body
            .id
    }

    fn cart_of(&self, user: &str) -> CartClient {
        CartClient::new(self.http.clone(), self.cart.url("")).with_bearer(user_token(user))
    }

    /// `user`'s checkout under a fresh Idempotency-Key, with the caller's
    /// `traceparent` if given: the status and headers.
    async fn checkout(&self, user: &str, traceparent: Option<&str>) -> (StatusCode, HeaderMap) {
        let mut req = self
            .http
            .post(self.order.url("/v1/orders"))
            .bearer_auth(user_token(user))
            .header("idempotency-key", format!("obs-{}", Uuid::now_v7()))
            .json(&serde_json::json!({}));
        if let Some(traceparent) = traceparent {
            req = req.header("traceparent", traceparent);
        }
        let resp = req.send().await.expect("order answers");
        (resp.status(), resp.headers().clone())
    }
}

/// The spans of trace `trace_id`.
fn of_trace(spans: &[ReceivedSpan], trace_id: &str) -> Vec<ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.trace_id == trace_id)
        .cloned()
        .collect()
}

/// Whether the checkout's trace has arrived whole: order's server span
/// (it ends last), and a server span under every client span.
fn complete(trace: &[ReceivedSpan]) -> bool {
    let order_done = trace
        .iter()
        .any(|s| s.service == "order" && s.kind == SpanKind::Server);
    let calls_done = trace
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .all(|c| {
            trace
                .iter()
                .any(|s| s.parent_span_id == c.span_id && s.kind == SpanKind::Server)
        });
    order_done && calls_done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_is_one_trace_across_order_product_and_cart() {
    let receiver = OtlpReceiver::start().await;
    let shop = Processes::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()),
        // Exported 100 ms after they end, not the default 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        // Every trace recorded, also those without a sampled caller.
        ("OTEL_TRACES_SAMPLER", "always_on".into()),
        ("RUST_LOG", "info".into()),
    ])
    .await;
    let product = shop.new_product().await;
    shop.cart_of("tracy")
        .set_quantity(product, 2)
        .await
        .expect("tracy adds the product to her cart");

    // The caller's trace: ids of our own choosing, sampled.
    let trace_id = Uuid::now_v7().simple().to_string();
    let caller_span = Uuid::now_v7().simple().to_string()[16..].to_owned();
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let (status, _) = shop.checkout("tracy", Some(&traceparent)).await;
    assert_eq!(status, StatusCode::CREATED, "the checkout succeeds");

    let spans = receiver
        .wait_for(Duration::from_secs(20), |all| {
            complete(&of_trace(all, &trace_id))
        })
        .await;
    let trace = of_trace(&spans, &trace_id);
    println!(
        "the checkout's trace {trace_id}, as the OTLP receiver got it (caller's span {caller_span}):\n{}",
        render_tree(&trace)
    );
    assert!(complete(&trace), "the whole trace arrived: {trace:#?}");

    let services: BTreeSet<&str> = trace.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services,
        BTreeSet::from(["cart", "order", "product"]),
        "all three services' spans share the caller's trace id"
    );
    // One root: order's server span, the child of the caller's span.
    let by_id: BTreeMap<&str, &ReceivedSpan> =
        trace.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let roots: Vec<&ReceivedSpan> = trace
        .iter()
        .filter(|s| !by_id.contains_key(s.parent_span_id.as_str()))
        .collect();
    let [root] = roots[..] else {
        panic!("every span's parent is in the trace but one: {roots:#?}");
    };
    assert_eq!(
        (
            root.service.as_str(),
            root.kind,
            root.name.as_str(),
            root.parent_span_id.as_str()
        ),
        (
            "order",
            SpanKind::Server,
            "POST /v1/orders",
            caller_span.as_str()
        ),
        "order's server span continues the caller's span"
    );
    // Every server span of product and cart is the child of a client span
    // of the service that called it, and every client span that of a
    // server span of its own service: a call is always visible as both
    // ends, and the reservation is among them.
    for span in &trace {
        let parent = by_id.get(span.parent_span_id.as_str());
        match (span.kind, parent) {
            (SpanKind::Server, Some(parent)) => assert!(
                parent.kind == SpanKind::Client
                    && parent.service != span.service
                    && parent.attributes.get("peer.service") == Some(&span.service),
                "{}'s {:?} is the child of a client span calling it: {parent:#?}",
                span.service,
                span.name
            ),
            (SpanKind::Client, Some(parent)) => assert!(
                parent.kind == SpanKind::Server && parent.service == span.service,
                "{}'s client span {:?} is the child of a server span of its own: {parent:#?}",
                span.service,
                span.name
            ),
            (_, None) => assert_eq!(span.span_id, root.span_id),
            (kind, Some(_)) => panic!("a {kind:?} span: {span:#?}"),
        }
    }
    let called = |service: &str, name: &str| {
        trace.iter().any(|s| {
            s.service == service
                && s.kind == SpanKind::Server
                && s.name == name
                && by_id[s.parent_span_id.as_str()].service == "order"
        })
    };
    for (service, name) in [
        ("product", "POST /internal/v1/reservations"),
        ("cart", "GET /internal/v1/carts"),
        ("cart", "POST /internal/v1/carts/remove"),
    ] {
        assert!(called(service, name), "order called {service}: {name}");
    }
}

/// A request's ids as a log line carries them (`None` when it does not):
/// the `request_id` and `trace_id` of the span it was logged in.
fn ids_of(line: &Value) -> (Option<&str>, Option<&str>) {
    let field = |name: &str| {
        line.get(name)
            .or_else(|| line.get("span").and_then(|s| s.get(name)))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    (field("request_id"), field("trace_id"))
}

/// One request the test sent: where, and the id its answer named.
struct Sent {
    what: &'static str,
    service: &'static str,
    status: StatusCode,
    request_id: String,
}

impl Sent {
    fn of(
        what: &'static str,
        service: &'static str,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Self {
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no x-request-id in the answer"))
            .to_owned();
        Self {
            what,
            service,
            status,
            request_id,
        }
    }
}

/// What one process logged while it handled requests: each request's
/// window, from tower-http's "started processing request" line to its
/// "finished processing request" line, with the request id and trace id
/// of every line in it. Panics on a line inside a window that lacks
/// either id or names another request: such a line was logged for the
/// request (the test sends one request at a time, and the background
/// tasks are set an hour apart) but cannot be found by its ids. Lines
/// outside every window (start-up, the readiness polls) are exempt.
fn windows(service: &str, lines: &[Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut windows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut open: Option<(String, String)> = None;
    for line in lines {
        let message = line["message"].as_str().unwrap_or_default();
        let (request_id, trace_id) = ids_of(line);
        if message == "started processing request" {
            assert!(open.is_none(), "{service}: requests overlap: {line}");
            let (Some(request_id), Some(trace_id)) = (request_id, trace_id) else {
                panic!("{service}: a request's first line lacks its ids: {line}");
            };
            open = Some((request_id.to_owned(), trace_id.to_owned()));
        }
        match &open {
            Some((want_request, want_trace)) => {
                assert!(
                    request_id == Some(want_request.as_str())
                        && trace_id == Some(want_trace.as_str()),
                    "{service}: a line logged while handling request {want_request} (trace {want_trace}) \
                     does not carry both ids: {line}"
                );
                windows
                    .entry(want_request.clone())
                    .or_default()
                    .insert(want_trace.clone());
            }
            // Outside requests only the ids' presence is checked: a line
            // logged in a span carries both.
            None => assert_eq!(
                request_id.is_some(),
                trace_id.is_some(),
                "{service}: a line with one id but not the other: {line}"
            ),
        }
        if message == "finished processing request" {
            assert!(
                open.is_some(),
                "{service}: a request ends that never began: {line}"
            );
            open = None;
        }
    }
    assert!(open.is_none(), "{service}: a request never finished");
    windows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_of_a_request_carries_its_request_id_and_trace_id() {
    let mut shop = Processes::start(&[
        ("LOG_FORMAT", "json".into()),
        // Everything: the platform's, the services', sqlx's statements and
        // the HTTP client's, and tower-http's "started processing request".
        ("RUST_LOG", "debug".into()),
        // The background tasks an hour apart, so that every line logged
        // while a request is handled is that request's.
        ("RESERVATION_SWEEP_INTERVAL_MS", "3600000".into()),
        ("RECOVERY_INTERVAL_MS", "3600000".into()),
    ])
    .await;
    let http = shop.http.clone();
    let mut sent = Vec::new();

    let product = {
        let resp = http
            .post(shop.product.url("/v1/products"))
            .bearer_auth(admin_token())
            .json(&serde_json::json!({
                "name": format!("Logged {}", Uuid::now_v7().simple()),
                "description": "",
                "category": "misc",
                "price": {"amount": 700, "currency": "EUR"},
                "stock": 5,
            }))
            .send()
            .await
            .unwrap();
        sent.push(Sent::of(
            "create a product",
            "product",
            resp.status(),
            resp.headers(),
        ));
        let body: Value = resp.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    };
    // The storefront's pages call product.
    for (what, path, status) in [
        ("the catalog page", "/".to_owned(), StatusCode::OK),
        (
            "a product page",
            format!("/products/{product}"),
            StatusCode::OK,
        ),
        (
            "an unknown page",
            "/no-such-page".to_owned(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let resp = http.get(shop.web.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), status, "{what}");
        sent.push(Sent::of(what, "web", resp.status(), resp.headers()));
    }
    let resp = http
        .put(shop.cart.url(&format!("/v1/cart/items/{product}")))
        .bearer_auth(user_token("logan"))
        .json(&serde_json::json!({"quantity": 2}))
        .send()
        .await
        .unwrap();
    sent.push(Sent::of(
        "add to the cart",
        "cart",
        resp.status(),
        resp.headers(),
    ));
    let resp = http
        .get(shop.cart.url("/v1/cart"))
        .bearer_auth(user_token("logan"))
        .send()
        .await
        .unwrap();
    sent.push(Sent::of(
        "read the cart",
        "cart",
        resp.status(),
        resp.headers(),
    ));
    let resp = http
        .get(
            shop.product
                .url(&format!("/v1/products/{}", Uuid::now_v7())),
        )
        .send()
        .await
        .unwrap();
    sent.push(Sent::of(
        "an unknown product",
        "product",
        resp.status(),
        resp.headers(),
    ));
    let resp = http
        .get(shop.order.url(&format!("/v1/orders/{}", Uuid::now_v7())))
        .bearer_auth(user_token("logan"))
        .send()
        .await
        .unwrap();
    sent.push(Sent::of(
        "an unknown order",
        "order",
        resp.status(),
        resp.headers(),
    ));
    let resp = http
        .post(shop.order.url("/v1/orders"))
        .bearer_auth(user_token("logan"))
        .header("idempotency-key", "logged-bad-body")
        .json(&serde_json::json!({"note": 42}))
        .send()
        .await
        .unwrap();
    sent.push(Sent::of(
        "a checkout with a bad body",
        "order",
        resp.status(),
        resp.headers(),
    ));
    let (status, headers) = shop.checkout("logan", None).await;
    sent.push(Sent::of("a checkout", "order", status, &headers));
    let statuses: Vec<(&str, u16)> = sent.iter().map(|s| (s.what, s.status.as_u16())).collect();
    assert_eq!(
        statuses,
        [
            ("create a product", 201),
            ("the catalog page", 200),
            ("a product page", 200),
            ("an unknown page", 404),
            ("add to the cart", 200),
            ("read the cart", 200),
            ("an unknown product", 404),
            ("an unknown order", 404),
            ("a checkout with a bad body", 422),
            ("a checkout", 201),
        ]
    );
    let checkout = sent.last().unwrap().request_id.clone();

    // Last, to each process, a request whose id the test chooses: once its
    // "finished" line is read, every line before it is too.
    let mut logged = BTreeMap::new();
    for (service, process) in [
        ("product", &mut shop.product),
        ("cart", &mut shop.cart),
        ("order", &mut shop.order),
        ("web", &mut shop.web),
    ] {
        let last = format!("last-{service}-{}", Uuid::now_v7().simple());
        let resp = http
            .get(process.url("/no-such-route"))
            .header("x-request-id", &last)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        sent.push(Sent::of(
            "the last request",
            service,
            resp.status(),
            resp.headers(),
        ));
        assert_eq!(sent.last().unwrap().request_id, last);
        let lines = process
            .lines_until(|l| {
                l["message"] == "finished processing request" && ids_of(l).0 == Some(last.as_str())
            })
            .await;
        println!("{service}: {} log lines", lines.len());
        logged.insert(service, windows(service, &lines));
    }

    // Every request the test sent was logged by the service it went to,
    // under the id its answer named; every request a service logged is
    // one the test sent or a call made for one (under that one's id).
    let answered: BTreeSet<&str> = sent.iter().map(|s| s.request_id.as_str()).collect();
    for s in &sent {
        assert!(
            logged[s.service].contains_key(&s.request_id),
            "{}: {} logged request {} ({})",
            s.what,
            s.service,
            s.request_id,
            s.status
        );
    }
    for (service, windows) in &logged {
        for (request_id, traces) in windows {
            assert!(
                answered.contains(request_id.as_str()),
                "{service} logged request {request_id}, which no answer named"
            );
            assert_eq!(
                traces.len(),
                1,
                "{service}: one trace per request id: {traces:?}"
            );
        }
    }
    // The checkout's calls: product and cart logged them under the
    // checkout's request id and trace id.
    let trace = &logged["order"][&checkout];
    for peer in ["product", "cart"] {
        assert_eq!(
            logged[peer].get(&checkout),
            Some(trace),
            "{peer} logged order's calls under the checkout's ids"
        );
    }
}

/// Traffic that puts every kind of series on the API services' pages but
/// the recovery worker's: a checkout and a refused one, a cart read whose
/// price refresh fails (a fault rule on cart's calls to product: the
/// refresh is retried, then answered with stored prices), the rule
/// cleared again, a 404, and the storefront's catalog page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_services_metrics_pass_promtool_after_a_checkout() {
    let shop = Processes::start(&[("FAULTS_ENABLED", "true".into())]).await;
    let product = shop.new_product().await;
    let cart = shop.cart_of("prom");
    cart.set_quantity(product, 1)
        .await
        .expect("prom adds the product to the cart");
    let faults = shop.cart.admin_url("/faults");
    let rules = serde_json::json!({"rules": [{"peer": "product", "error_rate": 1.0}]});
    let put = shop.http.put(&faults).json(&rules).send().await.unwrap();
    assert_eq!(
        put.status(),
        StatusCode::OK,
        "{}",
        put.text().await.unwrap()
    );
    assert!(
        cart.get().await.expect("the cart answers").prices_stale,
        "stored prices, product failing"
    );
    let cleared = shop.http.delete(&faults).send().await.unwrap();
    assert!(cleared.status().is_success(), "{}", cleared.status());
    let (status, _) = shop.checkout("prom", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = shop.checkout("prom", None).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the cart is empty now"
    );
    let missing = shop
        .http
        .get(shop.product.url("/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let page = shop.http.get(shop.web.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the storefront's catalog");

    for (service, process, families) in [
        (
            "product",
            &shop.product,
            &["product_reservations_total", "product_cache_requests_total"][..],
        ),
        (
            "cart",
            &shop.cart,
            &[
                "cart_price_refresh_total",
                "http_client_retries_total",
                "faults_injected_total",
                "faults_changes_total",
            ][..],
        ),
        (
            "order",
            &shop.order,
            &["order_checkouts_total", "http_client_requests_total"][..],
        ),
        // The storefront's own counters need a signed-in session: web's
        // tests check them (tests/web/metrics.rs).
        ("web", &shop.web, &["http_client_requests_total"][..]),
    ] {
        let metrics = shop
            .http
            .get(process.admin_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // The check is of a page with the traffic's series on it.
        for family in ["http_server_requests_total", "shop_build_info"]
            .iter()
            .chain(families)
        {
            assert!(
                testing::metric(&metrics, family, &[]) > 0.0,
                "{service} has {family} series: {metrics}"
            );
        }
        if !testing::check_metrics(service, &metrics) {
            return;
        }
    }
}
