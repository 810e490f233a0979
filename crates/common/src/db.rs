//! The PostgreSQL pool and migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Env;

/// How to reach the service's own database.
#[derive(Clone, Default)]
pub struct DbConfig {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL usually carries a password.
        f.debug_struct("DbConfig")
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl DbConfig {
    /// Reads `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`,
    /// `DATABASE_ACQUIRE_TIMEOUT_MS` and `DATABASE_STATEMENT_TIMEOUT_MS`.
    pub fn from_env(env: &mut Env) -> Self {
        let url: String = env.required("DATABASE_URL");
        if !url.is_empty() {
            let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
            env.check(
                postgres && PgConnectOptions::from_str(&url).is_ok(),
                "DATABASE_URL",
                "is not a valid postgres:// URL",
            );
        }
        let max_connections = env.optional("DATABASE_MAX_CONNECTIONS", 10u32);
        env.check(
            (1..=1000).contains(&max_connections),
            "DATABASE_MAX_CONNECTIONS",
            "must be between 1 and 1000",
        );
        Self {
            url,
            max_connections,
            acquire_timeout: env.millis("DATABASE_ACQUIRE_TIMEOUT_MS", 2_000),
            statement_timeout: env.millis("DATABASE_STATEMENT_TIMEOUT_MS", 5_000),
        }
    }

    /// Connect options with the server-side statement timeout, so one stuck
    /// query cannot hold a pooled connection forever.
    pub fn connect_options(&self) -> anyhow::Result<PgConnectOptions> {
        let timeout = format!("{}ms", self.statement_timeout.as_millis());
        Ok(PgConnectOptions::from_str(&self.url)
            .context("DATABASE_URL")?
            .options([("statement_timeout", timeout.as_str())]))
    }

    /// Pool options. Connections are not pinged on every acquire: that costs
    /// about 15 µs a request, and a dead connection surfaces as an error on
    /// first use anyway.
    pub fn pool_options(&self) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .test_before_acquire(false)
    }
}

/// Connects, retrying for up to `patience` so a service that starts before
/// its database (in a compose stack, say) waits instead of crash-looping.
pub async fn connect(config: &DbConfig, patience: Duration) -> anyhow::Result<PgPool> {
    let options = config.connect_options()?;
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(100);
    loop {
        match config.pool_options().connect_with(options.clone()).await {
            Ok(pool) => return Ok(pool),
            Err(e) if tokio::time::Instant::now() + delay < deadline => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e).context("connecting to the database"),
        }
    }
}

/// Applies pending migrations. sqlx holds a PostgreSQL advisory lock while
/// it migrates, so replicas starting together apply each migration once.
pub async fn migrate(pool: &PgPool, migrator: &Migrator) -> anyhow::Result<()> {
    migrator.run(pool).await.context("running migrations")
}
