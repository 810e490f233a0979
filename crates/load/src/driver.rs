//! Runs the load: the open model's fixed schedule, the closed model's
//! users, and the once-a-second progress line.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::cli::Model;
use crate::journeys::World;
use crate::schedule::Stages;
use crate::stats::{DROPPED, Percentiles, histogram};

/// Calls `launch` at every intended start of `stages` (from `begin`), then
/// waits for the end of the shape. `launch` must not block: it spawns the
/// journey, so a slow journey never delays the next start.
pub async fn open_loop(stages: &Stages, begin: Instant, mut launch: impl FnMut(Instant)) {
    for t in stages.start_times() {
        let at = begin + t;
        tokio::time::sleep_until(at).await;
        launch(at);
    }
    tokio::time::sleep_until(begin + stages.total()).await;
}

/// Drives the world through the shape under `model`, returning once every
/// journey has ended (bounded: journeys in flight when the shape ends get
/// `grace` to finish).
pub async fn drive(
    world: Arc<World>,
    model: Model,
    stages: &Stages,
    max_in_flight: usize,
    grace: Duration,
) {
    let begin = world.recorder.started;
    let mut tasks = tokio::task::JoinSet::new();
    match model {
        Model::Open => {
            let in_flight = Arc::new(AtomicUsize::new(0));
            open_loop(stages, begin, |intended| {
                if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                    world
                        .recorder
                        .step("dropped", Duration::ZERO, DROPPED.to_owned(), true);
                    world.recorder.journey("dropped", Duration::ZERO, true);
                    return;
                }
                in_flight.fetch_add(1, Ordering::Relaxed);
                let (world, in_flight) = (world.clone(), in_flight.clone());
                tasks.spawn(async move {
                    match world.take_user().await {
                        Ok(mut user) => {
                            let kind = world.pick(&mut user);
                            world.run(&mut user, kind, intended).await;
                            world.put_user(user);
                        }
                        Err(_) => world
                            .recorder
                            .journey("setup", Instant::now() - intended, true),
                    }
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                });
                // Reap finished journeys as we go, so the set stays small.
                while tasks.try_join_next().is_some() {}
            })
            .await;
        }
        Model::Closed => {
            let users = stages.peak().ceil() as usize;
            let end = begin + stages.total();
            for n in 0..users {
                let world = world.clone();
                let stages = stages.clone();
                tasks.spawn(async move {
                    let Ok(mut user) = world.new_user(n).await else {
                        world.recorder.journey("setup", Duration::ZERO, true);
                        return;
                    };
                    loop {
                        let now = Instant::now();
                        let Some(target) = stages.at(now.saturating_duration_since(begin)) else {
                            break;
                        };
                        if now >= end {
                            break;
                        }
                        if (n as f64) < target {
                            let kind = world.pick(&mut user);
                            world.run(&mut user, kind, Instant::now()).await;
                        } else {
                            // Not needed at this point of the ramp.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                });
            }
            tokio::time::sleep_until(end).await;
        }
    }
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}

/// Prints one status line a second until `stop` fires: a progress bar on a
/// terminal, plain lines otherwise (CI logs, containers).
pub async fn progress(
    world: Arc<World>,
    total: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total.as_secs().max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len}s {msg}")
                .expect("a valid template"),
        );
        bar
    });
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last_count = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        let elapsed = world.recorder.started.elapsed();
        let line = {
            let s = world.recorder.lock();
            let count: u64 = s.journeys.values().map(|j| j.count).sum();
            let errors: u64 = s.journeys.values().map(|j| j.errors).sum();
            let mut all = histogram();
            for j in s.journeys.values() {
                let _ = all.add(&j.latency);
            }
            let p99 = if all.is_empty() {
                0.0
            } else {
                Percentiles::of(&all).p99
            };
            let rate = count - last_count;
            last_count = count;
            format!(
                "{rate} journeys/s, {count} done, {errors} errors, p99 so far {p99:.1} ms, {} requests",
                s.requests
            )
        };
        match &bar {
            Some(bar) => {
                bar.set_position(elapsed.as_secs().min(total.as_secs()));
                bar.set_message(line);
            }
            None => eprintln!("[{:>5.1}s] {line}", elapsed.as_secs_f64()),
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
