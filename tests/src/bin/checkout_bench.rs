//! Checkout latency: N sequential checkouts through the stack's public API,
//! each by a fresh user with one line in the cart. Prints percentiles of the
//! checkout call alone (the cart is filled outside the timed part).
//!
//! Run it with `cargo xtask bench [--release] [N]`, which starts a local
//! stack, or against any stack with the `SHOP_*` variables set:
//! `cargo run -p e2e --bin checkout_bench -- 1000`.

use std::time::{Duration, Instant};

use e2e::{Stack, unique};
use shop_api::order::Checkout;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let stack = Stack::from_env();
    let product = stack
        .new_product(i32::try_from(n).unwrap_or(i32::MAX), 1234)
        .await;
    let run = unique("bench").replace(' ', "-");
    // Warm the connection pools and caches before timing.
    for i in 0..20.min(n) {
        let user = format!("{run}-warm-{i}");
        stack
            .cart_of(&user)
            .set_quantity(product.id, 1)
            .await
            .expect("add to cart");
        stack
            .orders_of(&user)
            .checkout("k", &Checkout::default())
            .await
            .expect("checkout");
    }
    let mut times = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n.saturating_sub(20) {
        let user = format!("{run}-{i}");
        stack
            .cart_of(&user)
            .set_quantity(product.id, 1)
            .await
            .expect("add to cart");
        let orders = stack.orders_of(&user);
        let t = Instant::now();
        let placed = orders
            .checkout("k", &Checkout::default())
            .await
            .expect("checkout");
        times.push(t.elapsed());
        assert_eq!(placed.status, 201);
    }
    let wall = started.elapsed();
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    println!(
        "checkouts: {} sequential (after 20 warm-up)\n  p50 {}\n  p90 {}\n  p99 {}\n  max {}\n  mean {}\n  wall {:.1} s (cart fill included)",
        times.len(),
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 90.0)),
        ms(percentile(&times, 99.0)),
        ms(*times.last().unwrap_or(&Duration::ZERO)),
        ms(mean),
        wall.as_secs_f64(),
    );
    println!("  final stock {} of {n}", stack.stock(product.id).await);
}
