//! Which typed-client calls the resilient client may repeat: every method of
//! `shop_api`'s `ProductClient`, `CartClient` and `OrderClient`, run over a
//! `Peer` against stubs on loopback that answer 503 or reset the
//! connection, counting the requests that arrive.
//!
//! The retry machinery itself is tested in `http_client.rs`; this holds each
//! call to its decision. A call marked idempotent by mistake would be sent
//! again after a timeout or a reset, and could take effect twice; one marked
//! not idempotent by mistake would give up where a retry was safe. The
//! table below must name every method the clients have: a new method fails
//! the test until someone decides whether repeating it is harmless.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::routing::any;
use shop_api::Idempotency::{self, Idempotent, NotIdempotent};
use shop_api::cart::{LineRef, RemoveLines};
use shop_api::order::{Checkout, ListOrders};
use shop_api::product::{
    ListProducts, NewProduct, ProductPatch, ReservationLineRequest, ReservationRequest,
};
use shop_api::{CartClient, ClientError, Money, OrderClient, ProductClient};
use shop_common::http_client::{ClientMetrics, Peer, PeerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// The id every call below uses, so each request's path is known.
const ID: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);

/// Retries a `Peer` makes for an idempotent call (the default).
const MAX_RETRIES: u32 = 2;

/// One typed-client method, the decision it must carry, and the request
/// line it sends (`{id}` stands for [`ID`], the query string left out).
struct Call {
    name: &'static str,
    idempotency: Idempotency,
    request: &'static str,
}

const CALLS: &[Call] = &[
    // Reads.
    Call {
        name: "ProductClient::list",
        idempotency: Idempotent,
        request: "GET /v1/products",
    },
    Call {
        name: "ProductClient::get",
        idempotency: Idempotent,
        request: "GET /v1/products/{id}",
    },
    Call {
        name: "ProductClient::revalidate",
        idempotency: Idempotent,
        request: "GET /v1/products/{id}",
    },
    Call {
        name: "ProductClient::reservation",
        idempotency: Idempotent,
        request: "GET /internal/v1/reservations/{id}",
    },
    Call {
        name: "CartClient::get",
        idempotency: Idempotent,
        request: "GET /v1/cart",
    },
    Call {
        name: "CartClient::stored",
        idempotency: Idempotent,
        request: "GET /internal/v1/carts",
    },
    Call {
        name: "OrderClient::list",
        idempotency: Idempotent,
        request: "GET /v1/orders",
    },
    Call {
        name: "OrderClient::get",
        idempotency: Idempotent,
        request: "GET /v1/orders/{id}",
    },
    // Creating a product mints a new id each time: a repeat is a second
    // product.
    Call {
        name: "ProductClient::create",
        idempotency: NotIdempotent,
        request: "POST /v1/products",
    },
    // A patch may be unconditional (no If-Match), and a repeat after
    // someone else's change would undo it.
    Call {
        name: "ProductClient::patch",
        idempotency: NotIdempotent,
        request: "PATCH /v1/products/{id}",
    },
    // Keyed by the reservation id: a repeat replays the first answer.
    Call {
        name: "ProductClient::reserve",
        idempotency: Idempotent,
        request: "POST /internal/v1/reservations",
    },
    // State transitions that are no-ops when already done.
    Call {
        name: "ProductClient::commit",
        idempotency: Idempotent,
        request: "POST /internal/v1/reservations/{id}/commit",
    },
    Call {
        name: "ProductClient::release",
        idempotency: Idempotent,
        request: "POST /internal/v1/reservations/{id}/release",
    },
    // Sets a quantity, never adds to it.
    Call {
        name: "CartClient::set_quantity",
        idempotency: Idempotent,
        request: "PUT /v1/cart/items/{id}",
    },
    Call {
        name: "CartClient::remove_item",
        idempotency: Idempotent,
        request: "DELETE /v1/cart/items/{id}",
    },
    Call {
        name: "CartClient::clear",
        idempotency: Idempotent,
        request: "DELETE /v1/cart",
    },
    // Removes lines by the revision the checkout read: twice removes once.
    Call {
        name: "CartClient::remove_lines",
        idempotency: Idempotent,
        request: "POST /internal/v1/carts/remove",
    },
    // Keyed by the Idempotency-Key: a repeat replays the stored answer, or
    // is told the first is still in progress.
    Call {
        name: "OrderClient::checkout",
        idempotency: Idempotent,
        request: "POST /v1/orders",
    },
    Call {
        name: "OrderClient::cancel",
        idempotency: Idempotent,
        request: "POST /v1/orders/{id}/cancel",
    },
];

/// The three clients over one fresh `Peer` (so no breaker state carries
/// over from one call to the next).
struct Clients {
    product: ProductClient,
    cart: CartClient,
    order: OrderClient,
}

impl Clients {
    fn new(url: &str) -> Self {
        let config = PeerConfig {
            max_retries: MAX_RETRIES,
            backoff: Duration::from_millis(1),
            breaker_threshold: 100,
            ..PeerConfig::default()
        };
        let registry = prometheus::Registry::new();
        let peer: Arc<Peer> =
            Arc::new(Peer::new("stub", config, ClientMetrics::register(&registry)).unwrap());
        Self {
            product: ProductClient::with_transport(peer.clone(), url).with_bearer("t"),
            cart: CartClient::with_transport(peer.clone(), url).with_bearer("t"),
            order: OrderClient::with_transport(peer, url).with_bearer("t"),
        }
    }
}

/// Makes the call `name` names, with plausible arguments. Only whether it
/// failed matters: every stub here fails every request.
async fn invoke(name: &str, c: &Clients) -> Result<(), ClientError> {
    let lines = vec![ReservationLineRequest {
        product_id: ID,
        quantity: 1,
    }];
    match name {
        "ProductClient::list" => c.product.list(&ListProducts::default()).await.map(drop),
        "ProductClient::get" => c.product.get(ID).await.map(drop),
        "ProductClient::revalidate" => c.product.revalidate(ID, "\"v1\"").await.map(drop),
        "ProductClient::reservation" => c.product.reservation(ID).await.map(drop),
        "ProductClient::create" => c
            .product
            .create(&NewProduct {
                name: "Stub".into(),
                description: String::new(),
                category: "misc".into(),
                price: Money::new(100, "EUR"),
                stock: 1,
            })
            .await
            .map(drop),
        "ProductClient::patch" => c
            .product
            .patch(ID, &ProductPatch::default(), None)
            .await
            .map(drop),
        "ProductClient::reserve" => c
            .product
            .reserve(&ReservationRequest {
                id: ID,
                lines,
                commit: false,
            })
            .await
            .map(drop),
        "ProductClient::commit" => c.product.commit(ID).await.map(drop),
        "ProductClient::release" => c.product.release(ID).await.map(drop),
        "CartClient::get" => c.cart.get().await.map(drop),
        "CartClient::set_quantity" => c.cart.set_quantity(ID, 1).await.map(drop),
        "CartClient::remove_item" => c.cart.remove_item(ID).await,
        "CartClient::clear" => c.cart.clear().await,
        "CartClient::stored" => c.cart.stored("u").await.map(drop),
        "CartClient::remove_lines" => c
            .cart
            .remove_lines(
                "u",
                &RemoveLines {
                    lines: vec![LineRef {
                        product_id: ID,
                        revision: 1,
                    }],
                },
            )
            .await
            .map(drop),
        "OrderClient::checkout" => c
            .order
            .checkout("key", &Checkout::default())
            .await
            .map(drop),
        "OrderClient::list" => c.order.list(&ListOrders::default()).await.map(drop),
        "OrderClient::get" => c.order.get(ID).await.map(drop),
        "OrderClient::cancel" => c.order.cancel(ID).await.map(drop),
        other => panic!("{other} is in the table but not called here: add it to `invoke`"),
    }
}

/// The public methods of the typed clients, read from their source:
/// `Type::method` for every `pub fn` in an `impl ProductClient` (or Cart,
/// Order) block. Also checks that every client alias has such a block, so
/// a new client cannot slip past the table either.
fn methods_in_source() -> BTreeSet<String> {
    let source = include_str!("../../api/src/client.rs");
    let aliases: BTreeSet<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("pub type ")?.split_once(" = Client<"))
        .map(|(alias, _)| alias)
        .collect();
    let mut impls = BTreeSet::new();
    let mut methods = BTreeSet::new();
    let mut current: Option<&str> = None;
    for line in source.lines() {
        if let Some(ty) = line
            .strip_prefix("impl ")
            .and_then(|l| l.strip_suffix(" {"))
        {
            current = aliases.contains(ty).then_some(ty);
            impls.extend(current);
            continue;
        }
        if line == "}" {
            current = None;
            continue;
        }
        let Some(ty) = current else { continue };
        let signature = line
            .strip_prefix("    pub async fn ")
            .or_else(|| line.strip_prefix("    pub fn "));
        if let Some(rest) = signature {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            methods.insert(format!("{ty}::{name}"));
        }
    }
    assert_eq!(
        impls,
        BTreeSet::from(["CartClient", "OrderClient", "ProductClient"]),
        "the typed clients in crates/api/src/client.rs changed: every one needs its calls in the table"
    );
    methods
}

/// A stub peer that records the request line of every request it gets.
struct Stub {
    what: &'static str,
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    /// Answers every request with 503 and a problem body.
    async fn unavailable() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = Router::new().fallback(any(move |method: axum::http::Method, uri: Uri| {
            let log = log.clone();
            async move {
                log.lock()
                    .unwrap()
                    .push(format!("{method} {}", uri.path()));
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("content-type", "application/problem+json")],
                    r#"{"type":"urn:shop:problem:unavailable","title":"Service unavailable","status":503}"#,
                )
            }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            what: "a 503",
            url,
            seen,
        }
    }

    /// Reads each request whole, then resets the connection without a word.
    async fn resetting() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    if let Some(line) = read_request(&mut socket).await {
                        log.lock().unwrap().push(line);
                    }
                    // RST instead of FIN: the connection is reset.
                    let _ = socket.set_zero_linger();
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            what: "a reset",
            url,
            seen,
        }
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// Reads one HTTP/1.1 request (head and `content-length` body) and returns
/// its method and path, without the query.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut words = head.lines().next()?.split(' ');
    let method = words.next()?;
    let target = words.next()?;
    let path = target.split('?').next()?;
    Some(format!("{method} {path}"))
}

#[test]
fn the_table_names_every_typed_client_method() {
    let table: BTreeSet<String> = CALLS.iter().map(|c| c.name.to_owned()).collect();
    assert_eq!(table.len(), CALLS.len(), "a method listed twice");
    assert_eq!(
        methods_in_source(),
        table,
        "every method of the typed clients needs a row in CALLS saying whether a retry is harmless"
    );
}

#[tokio::test]
async fn idempotent_calls_are_retried_and_the_others_are_sent_once() {
    for stub in [Stub::unavailable().await, Stub::resetting().await] {
        for call in CALLS {
            let clients = Clients::new(&stub.url);
            let result = invoke(call.name, &clients).await;
            let err = result.expect_err("every request fails here");
            assert!(err.is_unavailable(), "{}: {err:?}", call.name);
            let sends = match call.idempotency {
                Idempotent => 1 + MAX_RETRIES as usize,
                NotIdempotent => 1,
            };
            let request = call.request.replace("{id}", &ID.to_string());
            assert_eq!(
                stub.take(),
                vec![request; sends],
                "{} after {}: marked {:?}",
                call.name,
                stub.what,
                call.idempotency
            );
        }
    }
}
