//! Test helpers (feature `testing`): platform pieces wired for tests with the
//! development keys, scratch databases, and [`TestApp`], the one harness
//! every service's integration tests start their service with,
//! [`FaultProxy`], for the failure modes of a service's peers,
//! [`ServiceProcess`], a service's real binary for the signal, crash and
//! telemetry tests, [`OtlpReceiver`], where those processes send their
//! spans, and [`check_metrics`], `promtool`'s verdict on a `/metrics` page.
//! Never compiled into a service binary.

use shop_api::auth::dev;
use shop_api::auth::{DEV_AUDIENCE, DEV_ISSUER};

use crate::auth::{Auth, AuthConfig};

mod app;
mod otlp;
mod process;
mod promtool;
mod proxy;
pub use app::{Resp, TestApp};
pub use otlp::{OtlpReceiver, ReceivedSpan, SpanKind, render_tree};
pub use process::{ANY_PORT, ServiceProcess, service_binary};
pub use promtool::check_metrics;
pub use proxy::{Fault, FaultProxy};

/// The service credential tests use.
pub const TEST_INTERNAL_TOKEN: &str = "test-internal-token-0123456789abcdef";

/// Auth configured with the development public key and the test credential.
pub fn auth_config() -> AuthConfig {
    AuthConfig {
        public_key_pem: dev::DEV_PUBLIC_KEY_PEM.to_owned(),
        issuer: DEV_ISSUER.to_owned(),
        audience: DEV_AUDIENCE.to_owned(),
        internal_token: TEST_INTERNAL_TOKEN.to_owned(),
        keys_by_kid: Vec::new(),
        max_token_ttl: crate::auth::DEFAULT_MAX_TOKEN_TTL,
    }
}

/// The verifier for [`auth_config`].
pub fn auth() -> Auth {
    Auth::new(&auth_config()).expect("development key parses")
}

/// A user token for `subject`, valid for an hour.
pub fn user_token(subject: &str) -> String {
    dev::token(subject, false, 3600)
}

/// An admin token, valid for an hour.
pub fn admin_token() -> String {
    dev::token("admin", true, 3600)
}

/// The sum of the samples of metric `name` in Prometheus text `metrics`
/// whose labels include every `key="value"` of `labels` (0 when none do):
/// a test reads one figure whatever other labels (`service`, ...) it has.
pub fn metric(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && wanted.iter().all(|w| rest.contains(w.as_str())))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Asserts that PostgreSQL refuses every statement of `statements` with a
/// check violation of the constraint named beside it: the schema's own
/// guards on what a column may hold (`CHECK` constraints), tested by
/// writing past the service's code straight into its database. Each
/// statement runs in a transaction that is rolled back, so one that is
/// wrongly accepted changes nothing the next one sees.
///
/// `#[sqlx::test]` names a test's database after the test's module path,
/// not its crate: the services' schema tests have names of their own so
/// that running together they do not ask for the same database.
pub async fn assert_schema_refuses(db: &sqlx::PgPool, statements: &[(&str, &str)]) {
    for (sql, constraint) in statements {
        let mut tx = db.begin().await.expect("a transaction");
        let result = sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await;
        tx.rollback().await.expect("rolled back");
        let err = match result {
            Ok(done) => panic!(
                "accepted ({} rows), expected a violation of {constraint}: {sql}",
                done.rows_affected()
            ),
            Err(e) => e,
        };
        let db_err = err
            .as_database_error()
            .unwrap_or_else(|| panic!("{sql}: not a database error: {err}"));
        assert_eq!(
            db_err.code().as_deref(),
            Some("23514"),
            "{sql}: expected a check violation, got {db_err}"
        );
        assert_eq!(
            db_err.constraint(),
            Some(*constraint),
            "{sql}: expected {constraint} to refuse it, got {db_err}"
        );
    }
}

/// A scratch database: its pool and a URL for processes to connect with.
/// The database is dropped when the last clone of this value is.
#[derive(Debug, Clone)]
pub struct Scratch {
    pub pool: sqlx::PgPool,
    pub url: String,
    _dropper: std::sync::Arc<DropDatabase>,
}

/// Drops a scratch database, on a thread of its own (`Drop` cannot await,
/// and may run inside a runtime that must not block on itself).
#[derive(Debug)]
struct DropDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                use std::str::FromStr;
                let options = sqlx::postgres::PgConnectOptions::from_str(&url).ok()?;
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options)
                    .await
                    .ok()?;
                // FORCE ends the connections a pool of the finished test may
                // still hold (PostgreSQL 13 and later).
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("testing: could not drop scratch database {}", self.name);
        }
    }
}

/// A new, empty database on the server `DATABASE_URL` names, migrated with
/// `migrator`. For tests that need a second service's database beside the
/// one `#[sqlx::test]` made, or a URL to hand to a child process (the server
/// is a throwaway one under `cargo xtask test`). Dropped with its last
/// [`Scratch`].
pub async fn scratch_database(migrator: &sqlx::migrate::Migrator) -> Scratch {
    let scratch = empty_database().await;
    migrator
        .run(&scratch.pool)
        .await
        .expect("migrate scratch database");
    scratch
}

/// Like [`scratch_database`], with no migrations run: for a service
/// process, which migrates its database at start-up itself.
pub async fn empty_database() -> Scratch {
    use std::str::FromStr;
    let url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL: run the tests with `cargo xtask test`");
    let admin = sqlx::postgres::PgConnectOptions::from_str(&url).expect("DATABASE_URL parses");
    let name = format!("shop_scratch_{}", uuid::Uuid::now_v7().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect_with(&admin)
        .await
        .expect("connect to DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create scratch database");
    let dropper = std::sync::Arc::new(DropDatabase {
        admin_url: url.clone(),
        name: name.clone(),
    });
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(std::time::Duration::from_secs(60))
        .connect_with(admin.database(&name))
        .await
        .expect("connect to scratch database");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    let base = base.split('?').next().unwrap_or(base);
    Scratch {
        pool,
        url: format!("{base}/{name}"),
        _dropper: dropper,
    }
}
