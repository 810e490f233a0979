//! The journeys a user makes, step by step, each step timed and its answer
//! checked: browse (list pages, product reads with ETag revalidation), cart
//! (add, change, view, remove) and checkout (fill the cart, place the
//! order with a fresh Idempotency-Key, sometimes replay it or cancel).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use shop_api::order::Checkout;
use shop_api::product::ListProducts;
use shop_api::{CartClient, ClientError, OrderClient};
use tokio::time::Instant;
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::cli::{Mix, Scenario};
use crate::stats::{Recorder, Status, TRANSPORT};
use crate::target::Target;

/// The kinds of journey, as named in `--mix` and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Browse,
    Cart,
    Checkout,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Browse => "browse",
            Self::Cart => "cart",
            Self::Checkout => "checkout",
        }
    }
}

/// Everything a journey needs besides its user.
#[derive(Debug)]
pub struct World {
    pub target: Target,
    pub catalog: Catalog,
    pub recorder: std::sync::Arc<Recorder>,
    pub scenario: Scenario,
    pub mix: Mix,
    pub run_id: String,
    pub seed: u64,
    pub user_prefix: String,
    pub users: Users,
}

/// One simulated user: `load-user-N`, its clients and what it remembers.
#[derive(Debug)]
pub struct User {
    pub name: String,
    cart: CartClient,
    orders: OrderClient,
    /// The ETag of every product this user has read, for revalidation.
    etags: HashMap<Uuid, String>,
    rng: StdRng,
    checkouts: u64,
}

/// What the audit needs of a user the run used: its order client (token
/// signed once) and its newest order before the run.
#[derive(Debug, Clone)]
pub struct Known {
    pub orders: OrderClient,
    pub watermark: Option<Uuid>,
}

/// Each user the run used, with the newest order it had before the run
/// (the audit's watermark: later orders are the run's).
#[derive(Debug, Default)]
pub struct Users {
    free: Mutex<Vec<User>>,
    next: AtomicUsize,
    pub before: Mutex<BTreeMap<String, Known>>,
}

impl World {
    /// A user for one journey: an idle one, or a new one set up first
    /// (cart emptied, newest earlier order noted).
    pub async fn take_user(&self) -> Result<User, ClientError> {
        if let Some(u) = self
            .users
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
        {
            return Ok(u);
        }
        self.next_user().await
    }

    /// Sets up the next user not made yet.
    async fn next_user(&self) -> Result<User, ClientError> {
        let n = self.users.next.fetch_add(1, Ordering::Relaxed);
        self.new_user(n).await
    }

    /// Sets up `n` users and leaves them idle, for the open model to take
    /// before the clock starts: a journey's latency is then the journey's,
    /// not the set-up of a user the harness had not made yet (the closed
    /// model makes its users before their first journey too). Returns how
    /// many could not be set up; the run makes those on demand.
    pub async fn warm_users(self: &std::sync::Arc<Self>, n: usize) -> usize {
        let mut made = tokio::task::JoinSet::new();
        for _ in 0..n {
            let world = self.clone();
            made.spawn(async move { world.next_user().await });
        }
        let mut failed = 0;
        while let Some(user) = made.join_next().await {
            match user {
                Ok(Ok(user)) => self.put_user(user),
                _ => failed += 1,
            }
        }
        failed
    }

    /// Returns a user to the pool.
    pub fn put_user(&self, user: User) {
        self.users
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(user);
    }

    /// Sets up user `n` (`load-user-{n}` by default). Its earlier cart is emptied (it may hold
    /// archived products of an earlier run, which checkout refuses).
    pub async fn new_user(&self, n: usize) -> Result<User, ClientError> {
        let name = format!("{}-{n}", self.user_prefix);
        let token = self
            .target
            .token(&name, false)
            .expect("the signing key was checked at start");
        let user = User {
            cart: self.target.cart(&token),
            orders: self.target.orders(&token),
            etags: HashMap::new(),
            rng: StdRng::seed_from_u64(self.seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            checkouts: 0,
            name,
        };
        let t = Instant::now();
        let cleared = user.cart.clear().await;
        self.record("setup.clear", t, &cleared, 204, &[204]);
        cleared?;
        let t = Instant::now();
        let newest = user
            .orders
            .list(&shop_api::order::ListOrders {
                limit: Some(1),
                cursor: None,
            })
            .await;
        self.record("setup.orders", t, &newest, 200, &[200]);
        let newest = newest?.items.first().map(|o| o.id);
        self.users
            .before
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                user.name.clone(),
                Known {
                    orders: user.orders.clone(),
                    watermark: newest,
                },
            );
        Ok(user)
    }

    /// Which journey a user makes next.
    pub fn pick(&self, user: &mut User) -> Kind {
        if self.scenario == Scenario::Checkout {
            return Kind::Checkout;
        }
        let Mix {
            browse,
            cart,
            checkout,
        } = self.mix;
        let r = user.rng.random_range(0..browse + cart + checkout);
        if r < browse {
            Kind::Browse
        } else if r < browse + cart {
            Kind::Cart
        } else {
            Kind::Checkout
        }
    }

    /// Runs one journey and records it, its latency measured from
    /// `intended` (the open model's scheduled start; the actual start in
    /// the closed model).
    pub async fn run(&self, user: &mut User, kind: Kind, intended: Instant) {
        let mut clock = Clock(Some(intended));
        let ok = match kind {
            Kind::Browse => self.browse(user, &mut clock).await,
            Kind::Cart => self.cart(user, &mut clock).await,
            Kind::Checkout if self.scenario == Scenario::Checkout => {
                self.quick_checkout(user, &mut clock).await
            }
            Kind::Checkout => self.checkout(user, &mut clock).await,
        };
        self.recorder
            .journey(kind.name(), Instant::now() - intended, !ok);
    }

    /// Records one step; true when its answer was one of `expected`.
    fn record<T>(
        &self,
        step: &'static str,
        since: Instant,
        result: &Result<T, ClientError>,
        ok_status: u16,
        expected: &[u16],
    ) -> bool {
        let status = status_of(result, ok_status);
        let good = status.parse().is_ok_and(|s: u16| expected.contains(&s));
        self.recorder
            .step(step, Instant::now() - since, status, !good);
        good
    }

    fn product(&self, rng: &mut StdRng) -> Uuid {
        self.catalog
            .products
            .choose(rng)
            .expect("the catalog is not empty")
            .id
    }

    async fn browse(&self, user: &mut User, clock: &mut Clock) -> bool {
        let mut query = ListProducts {
            limit: Some(20),
            ..Default::default()
        };
        match user.rng.random_range(0..3) {
            0 => query.category = self.catalog.categories.choose(&mut user.rng).cloned(),
            1 => query.q = self.catalog.terms.choose(&mut user.rng).cloned(),
            _ => {}
        }
        let products = self.target.products();
        let t = clock.start();
        let page = products.list(&query).await;
        let mut ok = self.record("browse.list", t, &page, 200, &[200]);
        let Ok(mut page) = page else { return false };
        if let Some(cursor) = page
            .next_cursor
            .take()
            .filter(|_| user.rng.random_bool(0.3))
        {
            query.cursor = Some(cursor);
            let t = clock.start();
            let next = products.list(&query).await;
            ok &= self.record("browse.list", t, &next, 200, &[200]);
        }
        let ids: Vec<Uuid> = if page.items.is_empty() {
            vec![self.product(&mut user.rng)]
        } else {
            let n = user.rng.random_range(1..=3.min(page.items.len()));
            page.items
                .choose_multiple(&mut user.rng, n)
                .map(|p| p.id)
                .collect()
        };
        for id in ids {
            let t = clock.start();
            if let Some(etag) = user.etags.get(&id).cloned() {
                // Revalidation: 304 when unchanged, the new product when its
                // stock or price moved since this user read it.
                let r = products.revalidate(id, &etag).await;
                let status = match &r {
                    Ok(None) => 304,
                    _ => 200,
                };
                ok &= self.record("browse.revalidate", t, &r, status, &[200, 304]);
                if let Ok(Some(p)) = r
                    && let Some(e) = p.etag
                {
                    user.etags.insert(id, e);
                }
            } else {
                let r = products.get(id).await;
                ok &= self.record("browse.product", t, &r, 200, &[200]);
                if let Ok(p) = r
                    && let Some(e) = p.etag
                {
                    user.etags.insert(id, e);
                }
            }
        }
        ok
    }

    async fn cart(&self, user: &mut User, clock: &mut Clock) -> bool {
        let a = self.product(&mut user.rng);
        let b = loop {
            let b = self.product(&mut user.rng);
            if b != a || self.catalog.products.len() < 2 {
                break b;
            }
        };
        let cart = user.cart.clone();
        let mut ok = true;
        for (id, step) in [(a, "cart.add"), (b, "cart.add"), (a, "cart.update")] {
            let q = user.rng.random_range(1..=3);
            let t = clock.start();
            let r = cart.set_quantity(id, q).await;
            ok &= self.record(step, t, &r, 200, &[200]);
        }
        let t = clock.start();
        let r = cart.get().await;
        ok &= self.record("cart.view", t, &r, 200, &[200]);
        for id in [b, a] {
            let t = clock.start();
            let r = cart.remove_item(id).await;
            ok &= self.record("cart.remove", t, &r, 204, &[204]);
        }
        ok
    }

    /// `--scenario checkout`: one product in the cart, then checkout.
    async fn quick_checkout(&self, user: &mut User, clock: &mut Clock) -> bool {
        let id = self.product(&mut user.rng);
        let t = clock.start();
        let r = user.cart.set_quantity(id, 1).await;
        if !self.record("checkout.add", t, &r, 200, &[200]) {
            return false;
        }
        self.place(user, clock).await.is_some()
    }

    async fn checkout(&self, user: &mut User, clock: &mut Clock) -> bool {
        let lines = user
            .rng
            .random_range(1..=3.min(self.catalog.products.len()));
        let ids: Vec<Uuid> = self
            .catalog
            .products
            .choose_multiple(&mut user.rng, lines)
            .map(|p| p.id)
            .collect();
        for id in ids {
            let q = user.rng.random_range(1..=2);
            let t = clock.start();
            let r = user.cart.set_quantity(id, q).await;
            if !self.record("checkout.add", t, &r, 200, &[200]) {
                self.clear(user, clock).await;
                return false;
            }
        }
        let Some((key, placed)) = self.place(user, clock).await else {
            return false;
        };
        let Some(order) = placed else { return true };
        let mut ok = true;
        if user.rng.random_bool(0.1) {
            // A client that lost the answer retries with the same key: the
            // same order must come back, never a second one.
            let t = clock.start();
            let r = user.orders.checkout(&key, &Checkout::default()).await;
            let status = r.as_ref().map(|o| o.status.as_u16()).unwrap_or(201);
            let same = r.as_ref().is_ok_and(|o| o.body.id == order);
            ok &= self.record("checkout.replay", t, &r, status, &[201]) && same;
            let replayed = r.ok().map(|o| o.body.id);
            ok &= self.recorder.key(&user.name, &key, replayed);
        }
        if user.rng.random_bool(0.1) {
            let t = clock.start();
            let r = user.orders.cancel(order).await;
            ok &= self.record("checkout.cancel", t, &r, 200, &[200]);
        }
        ok
    }

    /// POST /v1/orders with a fresh key, retried with the same key while
    /// the outcome is unknown (as a careful client does). `None` on
    /// failure; otherwise the key and the order (`None` when refused for
    /// lack of stock, an expected answer).
    async fn place(&self, user: &mut User, clock: &mut Clock) -> Option<(String, Option<Uuid>)> {
        user.checkouts += 1;
        let key = format!("{}-{}-{}", self.run_id, user.name, user.checkouts);
        self.recorder.key(&user.name, &key, None);
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
            }
            let t = clock.start();
            let r = user.orders.checkout(&key, &Checkout::default()).await;
            let status = r.as_ref().map(|o| o.status.as_u16()).unwrap_or(201);
            let out_of_stock = r
                .as_ref()
                .err()
                .and_then(|e| e.problem())
                .is_some_and(|p| p.type_ == shop_api::ProblemType::OutOfStock.uri());
            let expected: &[u16] = if out_of_stock { &[409] } else { &[201] };
            let in_flight = !out_of_stock && status_of(&r, 201) == "409";
            self.record("checkout.place", t, &r, status, expected);
            match r {
                Ok(order) => {
                    let consistent = self.recorder.key(&user.name, &key, Some(order.body.id));
                    return consistent.then_some((key, Some(order.body.id)));
                }
                Err(_) if out_of_stock => {
                    self.recorder.out_of_stock();
                    self.clear(user, clock).await;
                    return Some((key, None));
                }
                // In flight elsewhere, or the outcome is unknown: the same
                // key is safe to send again.
                Err(e) if e.is_unavailable() || in_flight => {}
                Err(_) => break,
            }
        }
        self.clear(user, clock).await;
        None
    }

    /// Empties the cart after a failed checkout, so the next journey
    /// starts clean.
    async fn clear(&self, user: &mut User, clock: &mut Clock) {
        let t = clock.start();
        let r = user.cart.clear().await;
        self.record("checkout.clear", t, &r, 204, &[204]);
    }
}

/// When each step's latency starts: the first step's at the journey's
/// intended start (so a late start counts), later ones when they start.
struct Clock(Option<Instant>);

impl Clock {
    fn start(&mut self) -> Instant {
        self.0.take().unwrap_or_else(Instant::now)
    }
}

/// How a call ended, for the status counts.
pub fn status_of<T>(result: &Result<T, ClientError>, ok_status: u16) -> Status {
    match result {
        Ok(_) => ok_status.to_string(),
        Err(ClientError::Problem(p)) => p.status.to_string(),
        Err(ClientError::Unexpected { status, .. }) => status.as_u16().to_string(),
        Err(_) => TRANSPORT.to_owned(),
    }
}
