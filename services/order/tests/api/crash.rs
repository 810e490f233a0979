//! Crash safety with a real order process. Two kinds of crash: the
//! `ORDER_FAULT_POINT` test hook makes the process exit abruptly at one
//! saga step, and a SIGKILL from outside lands at a random moment of a
//! burst of checkouts. After a restart, the clients' retries with the same
//! keys yield exactly one order or a clean refusal per key, stock moves
//! exactly once, and nothing stays held once the recovery worker has run.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::StatusCode;
use shop_api::ProblemType;
use shop_common::testing::{self, ANY_PORT, ServiceProcess};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::helpers::*;

/// The order binary on `addrs` (API, admin; [`ANY_PORT`] for a free
/// one) beside `shop`'s product and cart, crashing at `fault` if given.
async fn start_order(
    shop: &Shop,
    database_url: &str,
    addrs: (SocketAddr, SocketAddr),
    fault: Option<&str>,
) -> ServiceProcess {
    let mut env = vec![
        ("PRODUCT_URL", shop.product.url.clone()),
        ("CART_URL", shop.cart.url.clone()),
        ("REQUEST_TIMEOUT_MS", "2000".into()),
        ("RECOVERY_AFTER_MS", "2500".into()),
        ("RECOVERY_INTERVAL_MS", "200".into()),
    ];
    if let Some(point) = fault {
        env.push(("ORDER_FAULT_POINT", point.into()));
    }
    ServiceProcess::start(env!("CARGO_BIN_EXE_order"), database_url, addrs, &env).await
}

/// One checkout of `user`'s cart under `key`; the note names the key, so
/// every order row, also one whose key was freed, tells which key made it.
async fn checkout(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    key: &str,
) -> Result<(StatusCode, Bytes), reqwest::Error> {
    let resp = http
        .post(format!("{base}/v1/orders"))
        .bearer_auth(user_token(user))
        .header("idempotency-key", key)
        .json(&serde_json::json!({ "note": key }))
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.bytes().await?))
}

/// What a test expects of one fault point.
struct Crash {
    point: &'static str,
    /// The interrupted order's status and its reservation's (`None`: product
    /// has none) when the process has died.
    leaves: (&'static str, Option<&'static str>),
    /// Whether the worker fails the interrupted order (nothing to finish),
    /// so the client's retry starts afresh with a new order.
    afresh: bool,
}

async fn crash_and_recover(crash: Crash) {
    let point = crash.point;
    let scratch = testing::scratch_database(&order::MIGRATOR).await;
    let shop = Shop::start(scratch.pool.clone(), false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    let http = reqwest::Client::new();

    let mut crashing = start_order(&shop, &scratch.url, (ANY_PORT, ANY_PORT), Some(point)).await;
    let lost = checkout(&http, &crashing.url(""), "alice", "crash-key").await;
    assert!(
        lost.is_err(),
        "{point}: the process dies before answering: {lost:?}"
    );
    let exited = crashing.exited_within(Duration::from_secs(30)).await;
    assert_eq!(
        exited.and_then(|s| s.code()),
        Some(86),
        "{point}: exited at the fault point"
    );
    // What the crash left behind, before anything can repair it.
    let (interrupted, status): (Uuid, String) =
        sqlx::query_as("SELECT id, status FROM orders WHERE idempotency_key = 'crash-key'")
            .fetch_one(&scratch.pool)
            .await
            .unwrap();
    let reservation: Option<String> =
        sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1")
            .bind(interrupted)
            .fetch_optional(&shop.product_db)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), reservation.as_deref()),
        crash.leaves,
        "{point}: the order and reservation the crash leaves"
    );
    let saved: i64 = sqlx::query_scalar("SELECT count(*) FROM order_lines WHERE order_id = $1")
        .bind(interrupted)
        .fetch_one(&scratch.pool)
        .await
        .unwrap();
    assert_eq!(saved, 1, "{point}: the cart's line is saved with the order");

    // Restarted on the same ports, as a supervisor would.
    let restarted = start_order(&shop, &scratch.url, (crashing.http, crashing.admin), None).await;
    assert_eq!(restarted.http, crashing.http);
    // The client retries with the same key until it gets an answer (bounded).
    let mut answer = None;
    for _ in 0..300 {
        match checkout(&http, &restarted.url(""), "alice", "crash-key").await {
            Ok((StatusCode::CREATED, body)) => {
                answer = Some(body);
                break;
            }
            Ok((status, body)) => assert!(
                status == StatusCode::CONFLICT || status == StatusCode::SERVICE_UNAVAILABLE,
                "{point}: {status}: {}",
                String::from_utf8_lossy(&body)
            ),
            Err(e) => panic!("{point}: the restarted process failed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = answer.expect("the retry is eventually answered 201");
    let placed = json(&body);
    assert_eq!(placed["status"], "confirmed", "{point}");
    let orders: Vec<(Uuid, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, status, failure_reason, idempotency_key FROM orders ORDER BY id",
    )
    .fetch_all(&scratch.pool)
    .await
    .unwrap();
    let key = Some("crash-key".to_owned());
    if crash.afresh {
        // The worker failed the interrupted order for good and freed its
        // key (the row stays, failed, until the key retention deletes it);
        // the retry then ran a checkout of its own.
        let confirmed = placed["id"].as_str().unwrap().parse::<Uuid>().unwrap();
        assert_ne!(confirmed, interrupted, "{point}: the retry started afresh");
        assert_eq!(
            orders,
            [
                (
                    interrupted,
                    "failed".to_owned(),
                    Some("nothing_reserved".to_owned()),
                    None
                ),
                (confirmed, "confirmed".to_owned(), None, key),
            ],
            "{point}: one confirmed order for the key and the failed one it replaced"
        );
    } else {
        assert_eq!(
            orders,
            [(interrupted, "confirmed".to_owned(), None, key)],
            "{point}: exactly one order for the key: the interrupted one, finished"
        );
    }
    assert_eq!(
        shop.units(p).await,
        (3, 0, 2),
        "{point}: stock sold exactly once, nothing held"
    );
    // The checked-out lines leave the cart (by the request or the worker).
    let mut emptied = false;
    for _ in 0..100 {
        if shop.cart_of("alice").get().await.unwrap().items.is_empty() {
            emptied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(emptied, "{point}: the cart is cleaned up");
    assert_eq!(
        checkout(&http, &restarted.url(""), "alice", "crash-key")
            .await
            .unwrap()
            .1,
        body,
        "{point}: and replays stay identical"
    );
}

#[tokio::test]
async fn a_crash_before_reserve_is_failed_by_the_worker_and_the_retry_starts_afresh() {
    crash_and_recover(Crash {
        point: "before_reserve",
        leaves: ("pending", None),
        afresh: true,
    })
    .await;
}

#[tokio::test]
async fn a_crash_after_reserve_is_rolled_forward() {
    // The reserve sells at once: the worker finds the stock committed.
    crash_and_recover(Crash {
        point: "after_reserve",
        leaves: ("pending", Some("committed")),
        afresh: false,
    })
    .await;
}

#[tokio::test]
async fn a_crash_after_the_cart_cleanup_is_rolled_forward() {
    // The cart is already clean; the worker's cleanup finds nothing to do.
    crash_and_recover(Crash {
        point: "after_cleanup",
        leaves: ("pending", Some("committed")),
        afresh: false,
    })
    .await;
}

#[tokio::test]
async fn a_crash_after_confirm_replays_the_stored_answer() {
    crash_and_recover(Crash {
        point: "after_confirm",
        leaves: ("confirmed", Some("committed")),
        afresh: false,
    })
    .await;
}

// ---------------------------------------------------------------------------
// kill -9 from outside, Jepsen style.

/// Rounds whose kill cut requests off; a round whose kill cut nothing off
/// proves nothing and is run again with an earlier kill (right after the
/// first answer), at most `MAX_ROUNDS` rounds in all.
const ROUNDS: usize = 3;
const MAX_ROUNDS: usize = 6;

/// The seed of the kill test: `CRASH_SEED` replays a failed run (each
/// assertion prints the seed it ran with); otherwise the clock. The seed
/// fixes every random choice (carts, keys, when the kill lands), not the
/// machine's timing, so a replay is the same test, not the same run.
fn crash_seed() -> u64 {
    match std::env::var("CRASH_SEED") {
        Ok(seed) => seed
            .trim()
            .parse()
            .expect("CRASH_SEED is an unsigned integer"),
        Err(_) => SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_nanos() as u64,
    }
}

/// SplitMix64: a tiny, well-mixed generator, so the test needs no crate
/// and a seed means the same choices everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (the bias of `%` is irrelevant at these sizes).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

/// How a key's checkout ended, or that it must be asked again.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    /// 201: the order, confirmed.
    Placed { id: Uuid, body: Bytes },
    /// A refusal stored for the key: 409 out-of-stock, 422 (an empty cart:
    /// another key of the same user took its lines first).
    Refused { status: u16, body: Bytes },
    /// 409 still in progress (the worker has not decided yet), or 503 (the
    /// key was freed, or the order is pending): ask again.
    Again,
}

fn classify(status: StatusCode, body: &Bytes) -> Result<Answer, String> {
    let problem = json(body);
    let kind = problem["type"].as_str().and_then(ProblemType::from_uri);
    match (status.as_u16(), kind) {
        (201, _) => match problem["id"].as_str().and_then(|id| id.parse().ok()) {
            Some(id) => Ok(Answer::Placed {
                id,
                body: body.clone(),
            }),
            None => Err(format!("a 201 without an order id: {problem}")),
        },
        (409, Some(ProblemType::OutOfStock))
        | (422, Some(ProblemType::Validation | ProblemType::ProductUnavailable)) => {
            Ok(Answer::Refused {
                status: status.as_u16(),
                body: body.clone(),
            })
        }
        (409, Some(ProblemType::Conflict)) | (503, _) => Ok(Answer::Again),
        _ => Err(format!(
            "unexpected answer {status}: {}",
            String::from_utf8_lossy(body)
        )),
    }
}

/// One user: a cart, and the keys their client checks it out with (a
/// second key is a double submit with a fresh key, which may legitimately
/// buy the cart twice).
struct Buyer {
    user: String,
    keys: Vec<String>,
}

/// What a round saw.
struct RoundReport {
    /// Burst requests that ended in a connection error: cut off by the kill.
    cut_off: usize,
    /// Orders left pending by the kill (checkouts interrupted mid-saga), by
    /// what product had for them then: no reservation ("none"), "held",
    /// "committed".
    interrupted: BTreeMap<String, i64>,
    /// Keys answered 201, and keys refused (out of stock, empty cart).
    placed: usize,
    refused: usize,
    /// Orders the worker failed with their key freed, so that a retry
    /// started afresh.
    freed: i64,
}

/// Rounds of: a burst of concurrent checkouts (12-20 users, each with 1-2
/// units of a product that has fewer units than that demand, half of them
/// with a second product, a quarter checking out twice with two keys)
/// against a real order binary that is SIGKILLed at a random moment of the
/// burst (after 1 to half of its answers, plus 0-30 ms), restarted
/// on the same ports; then every key is retried until it has a definite
/// answer. Afterwards: an answer given before the kill is never
/// contradicted; each key names exactly one order, which is its answer
/// (every other order it made was failed for a transient reason and its
/// key freed); no user has more confirmed orders than keys; no order is
/// left pending and nothing held; per product, initial = available + sold
/// and sold = units in confirmed orders; the committed reservations are
/// exactly the confirmed orders. See [`crash_seed`] to replay a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_of_checkouts_loses_and_doubles_nothing() {
    let seed = crash_seed();
    eprintln!("kill -9 test: CRASH_SEED={seed}");
    let scratch = testing::scratch_database(&order::MIGRATOR).await;
    let shop = Shop::start(scratch.pool.clone(), false).await;
    let mut process = start_order(&shop, &scratch.url, (ANY_PORT, ANY_PORT), None).await;
    let (mut cut, mut earlier) = (0, false);
    let mut interrupted = BTreeMap::<String, i64>::new();
    for round in 0..MAX_ROUNDS {
        if cut == ROUNDS {
            break;
        }
        let ctx = format!("CRASH_SEED={seed} round {round}");
        let report = kill_round(&shop, &scratch, &mut process, seed, round, earlier, &ctx).await;
        eprintln!(
            "{ctx}: {} requests cut off, checkouts interrupted mid-saga (by reservation) {:?}; \
             then {} keys placed, {} refused, {} orders failed and retried afresh",
            report.cut_off, report.interrupted, report.placed, report.refused, report.freed
        );
        for (found, n) in report.interrupted {
            *interrupted.entry(found).or_default() += n;
        }
        // A kill that cut nothing off proves nothing: kill earlier next time.
        earlier = report.cut_off == 0;
        if !earlier {
            cut += 1;
        }
    }
    assert_eq!(
        cut, ROUNDS,
        "CRASH_SEED={seed}: fewer than {ROUNDS} of {MAX_ROUNDS} rounds' kills cut a request off"
    );
    eprintln!("CRASH_SEED={seed}: interrupted checkouts in all, by reservation: {interrupted:?}");
    assert!(
        interrupted.values().sum::<i64>() > 0,
        "CRASH_SEED={seed}: no kill landed inside a checkout (no order was left pending)"
    );
}

/// One round on fresh products and users: set up, burst, kill, restart,
/// retry every key to a definite answer, let the worker settle, check.
async fn kill_round(
    shop: &Shop,
    scratch: &testing::Scratch,
    process: &mut ServiceProcess,
    seed: u64,
    round: usize,
    earlier: bool,
    ctx: &str,
) -> RoundReport {
    // Each round's choices depend on the seed and the round alone.
    let mut rng = Rng(seed ^ (round as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    // The scarce product: fewer units than even the smallest demand (every
    // user wants 1-2 of it), so some checkouts must be refused.
    let scarce_stock = rng.range(5, 10) as i64;
    let plenty_stock = 500;
    let scarce = shop.new_product(scarce_stock as i32, 100).await;
    let plenty = shop.new_product(plenty_stock as i32, 250).await;
    let users = rng.range(12, 20);
    let mut buyers = Vec::new();
    for u in 0..users {
        let user = format!("k9-{round}-u{u}");
        let cart = shop.cart_of(&user);
        cart.set_quantity(scarce, rng.range(1, 2) as i32)
            .await
            .unwrap();
        if rng.chance(2) {
            cart.set_quantity(plenty, rng.range(1, 2) as i32)
                .await
                .unwrap();
        }
        let keys = if rng.chance(4) { 2 } else { 1 };
        buyers.push(Buyer {
            keys: (0..keys).map(|k| format!("{user}-key{k}")).collect(),
            user,
        });
    }
    // The kill lands after the first answers (so the process is surely
    // at work) and before half of them (so many are still in flight).
    let (after_answers, delay_ms) = (rng.range(1, users / 2), rng.range(0, 30));
    let (after_answers, delay) = if earlier {
        (1, Duration::ZERO)
    } else {
        (after_answers as usize, Duration::from_millis(delay_ms))
    };
    let user_ids: Vec<String> = buyers.iter().map(|b| b.user.clone()).collect();
    let keys: Vec<(String, String)> = buyers
        .iter()
        .flat_map(|b| b.keys.iter().map(|k| (b.user.clone(), k.clone())))
        .collect();

    // The burst: every key at once, on a client that never retries.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    for (user, key) in keys.clone() {
        let (http, base, tx) = (http.clone(), process.url(""), tx.clone());
        tokio::spawn(async move {
            let result = checkout(&http, &base, &user, &key).await;
            let _ = tx.send((key, result));
        });
    }
    drop(tx);
    let mut burst = BTreeMap::new();
    for _ in 0..after_answers {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some((key, result))) => {
                burst.insert(key, result);
            }
            _ => break,
        }
    }
    tokio::time::sleep(delay).await;
    // `Child::kill` is SIGKILL: no handler, no drain, no cleanup.
    let status = process.kill();
    assert_eq!(
        status.signal(),
        Some(9),
        "{ctx}: the process was running until the kill: {status}"
    );
    while let Some((key, result)) = rx.recv().await {
        burst.insert(key, result);
    }
    assert_eq!(burst.len(), keys.len(), "{ctx}: every burst request ended");
    let cut_off = burst.values().filter(|r| r.is_err()).count();
    // Where the kill left each interrupted checkout: what product holds
    // for each order still pending decides which recovery path it takes.
    let pending: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM orders WHERE status = 'pending' AND user_id = ANY($1)")
            .bind(&user_ids)
            .fetch_all(&scratch.pool)
            .await
            .unwrap();
    let found: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM reservations WHERE id = ANY($1) GROUP BY status",
    )
    .bind(&pending)
    .fetch_all(&shop.product_db)
    .await
    .unwrap();
    let mut interrupted: BTreeMap<String, i64> = found.into_iter().collect();
    let none = pending.len() as i64 - interrupted.values().sum::<i64>();
    if none > 0 {
        interrupted.insert("none".into(), none);
    }

    // Restarted on the same ports, as a supervisor would; every client
    // retries its key until it has a definite answer (bounded).
    *process = start_order(shop, &scratch.url, (process.http, process.admin), None).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut retries = tokio::task::JoinSet::new();
    for (user, key) in keys.clone() {
        let (http, base) = (http.clone(), process.url(""));
        retries.spawn(async move {
            let answer = settle_key(&http, &base, &user, &key).await;
            (key, answer)
        });
    }
    let mut answers = BTreeMap::new();
    while let Some(joined) = retries.join_next().await {
        let (key, answer) = joined.unwrap();
        match answer {
            Ok(answer) => answers.insert(key, answer),
            Err(e) => panic!("{ctx}: key {key}: {e}"),
        };
    }
    for (user, key) in &keys {
        let answer = &answers[key];
        // An answer given before the kill is never contradicted after it.
        if let Some(Ok((status, body))) = burst.get(key)
            && let Ok(first @ (Answer::Placed { .. } | Answer::Refused { .. })) =
                classify(*status, body)
        {
            assert_eq!(answer, &first, "{ctx}: key {key} kept its first answer");
        }
        let replay = checkout(&http, &process.url(""), user, key).await.unwrap();
        assert_eq!(
            classify(replay.0, &replay.1).as_ref(),
            Ok(answer),
            "{ctx}: key {key} replays its answer"
        );
    }

    // The worker settles what the kill left: no order pending, nothing
    // held (bounded wait; every key is answered, so this is quick).
    let products = [scarce, plenty];
    let mut left = (0, 0);
    for _ in 0..100 {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE status = 'pending' AND user_id = ANY($1)",
        )
        .bind(&user_ids)
        .fetch_one(&scratch.pool)
        .await
        .unwrap();
        left = (
            pending,
            held_reservations(&shop.product_db, &products).await,
        );
        if left == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        left,
        (0, 0),
        "{ctx}: (orders pending, reservations held) after the worker's rounds"
    );

    check_invariants(shop, &scratch.pool, &buyers, &answers, ctx).await;
    // Units are conserved per product: what was there is available or
    // sold (nothing is held), and what is sold is in confirmed orders.
    let sold_in_orders: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT l.product_id, sum(l.quantity)::int8 FROM order_lines l \
         JOIN orders o ON o.id = l.order_id \
         WHERE o.status = 'confirmed' AND o.user_id = ANY($1) GROUP BY l.product_id",
    )
    .bind(&user_ids)
    .fetch_all(&scratch.pool)
    .await
    .unwrap();
    let sold_in_orders: BTreeMap<Uuid, i64> = sold_in_orders.into_iter().collect();
    for (product, initial) in [(scarce, scarce_stock), (plenty, plenty_stock)] {
        let (available, held, sold) = shop.units(product).await;
        assert_eq!(held, 0, "{ctx}: nothing held of {product}");
        assert_eq!(
            initial,
            available + sold,
            "{ctx}: initial = available + sold for {product}"
        );
        assert_eq!(
            sold,
            sold_in_orders.get(&product).copied().unwrap_or(0),
            "{ctx}: units sold of {product} = units in confirmed orders"
        );
    }
    // And sold by exactly the confirmed orders: a committed reservation
    // per confirmed order, none for any other.
    let committed: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT r.id FROM reservations r JOIN reservation_lines l ON l.reservation_id = r.id \
         WHERE r.status = 'committed' AND l.product_id = ANY($1)",
    )
    .bind(&products[..])
    .fetch_all(&shop.product_db)
    .await
    .unwrap();
    let confirmed: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'confirmed' AND user_id = ANY($1)",
    )
    .bind(&user_ids)
    .fetch_all(&scratch.pool)
    .await
    .unwrap();
    assert_eq!(
        committed.into_iter().collect::<BTreeSet<_>>(),
        confirmed.into_iter().collect::<BTreeSet<_>>(),
        "{ctx}: the committed reservations are exactly the confirmed orders"
    );
    let freed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE status = 'failed' AND idempotency_key IS NULL \
           AND user_id = ANY($1)",
    )
    .bind(&user_ids)
    .fetch_one(&scratch.pool)
    .await
    .unwrap();
    let placed = answers
        .values()
        .filter(|a| matches!(a, Answer::Placed { .. }))
        .count();
    RoundReport {
        cut_off,
        interrupted,
        placed,
        refused: answers.len() - placed,
        freed,
    }
}

/// Retries one key until it has a definite answer: at most 150 tries,
/// 100 ms apart, so about 15 s, against a worker that decides about an
/// interrupted order 2.5 s after it began.
async fn settle_key(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    key: &str,
) -> Result<Answer, String> {
    for _ in 0..150 {
        let (status, body) = checkout(http, base, user, key)
            .await
            .map_err(|e| format!("the restarted process failed: {e}"))?;
        match classify(status, &body)? {
            Answer::Again => tokio::time::sleep(Duration::from_millis(100)).await,
            answer => return Ok(answer),
        }
    }
    Err("no definite answer after 150 tries".into())
}

async fn held_reservations(product_db: &PgPool, products: &[Uuid]) -> i64 {
    sqlx::query_scalar(
        "SELECT count(DISTINCT r.id) FROM reservations r \
         JOIN reservation_lines l ON l.reservation_id = r.id \
         WHERE r.status = 'held' AND l.product_id = ANY($1)",
    )
    .bind(products)
    .fetch_one(product_db)
    .await
    .unwrap()
}

/// One order row as the invariants see it.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: Uuid,
    user_id: String,
    note: Option<String>,
    idempotency_key: Option<String>,
    status: String,
    failure_reason: Option<String>,
    response_status: Option<i32>,
}

/// Every key names at most one order, and the order it names is its
/// answer; every other order a key made (the note says which) was failed
/// for a transient reason with its key freed; no user has more confirmed
/// orders than keys.
async fn check_invariants(
    shop: &Shop,
    order_db: &PgPool,
    buyers: &[Buyer],
    answers: &BTreeMap<String, Answer>,
    ctx: &str,
) {
    let users: Vec<String> = buyers.iter().map(|b| b.user.clone()).collect();
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, user_id, note, idempotency_key, status, failure_reason, response_status \
         FROM orders WHERE user_id = ANY($1)",
    )
    .bind(&users)
    .fetch_all(order_db)
    .await
    .unwrap();
    for buyer in buyers {
        for key in &buyer.keys {
            let made: Vec<&Row> = rows
                .iter()
                .filter(|r| r.note.as_deref() == Some(key.as_str()))
                .collect();
            assert!(
                made.iter().all(|r| r.user_id == buyer.user),
                "{ctx}: key {key} made orders only for its user: {made:?}"
            );
            let (named, freed): (Vec<&Row>, Vec<&Row>) = made
                .into_iter()
                .partition(|r| r.idempotency_key.as_deref() == Some(key.as_str()));
            let [named] = named[..] else {
                panic!("{ctx}: key {key} names exactly one order: {named:?}");
            };
            match &answers[key] {
                Answer::Placed { id, .. } => assert!(
                    named.id == *id && named.status == "confirmed",
                    "{ctx}: key {key} names its confirmed order {id}: {named:?}"
                ),
                Answer::Refused { status, .. } => assert!(
                    named.status == "failed" && named.response_status == Some(i32::from(*status)),
                    "{ctx}: key {key} names its refused order: {named:?}"
                ),
                Answer::Again => unreachable!("only definite answers are kept"),
            }
            for row in freed {
                assert!(
                    row.status == "failed"
                        && row.response_status.is_none()
                        && matches!(
                            row.failure_reason.as_deref(),
                            Some(
                                "nothing_reserved" | "hold_expired" | "product_down" | "cart_down"
                            )
                        ),
                    "{ctx}: key {key}'s earlier order failed for a transient reason, its key freed: {row:?}"
                );
            }
        }
        let confirmed = shop.order_count(&buyer.user, "confirmed").await;
        assert!(
            confirmed <= buyer.keys.len() as i64,
            "{ctx}: {} has {confirmed} confirmed orders for {} keys",
            buyer.user,
            buyer.keys.len()
        );
    }
}
