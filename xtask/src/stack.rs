//! The local stack: every service as a process on loopback over one
//! PostgreSQL server with a database and role per service. `dev` runs it on
//! fixed ports for people; `test` and `e2e` run it on free ports for the
//! end-to-end suite: each service binds port 0 and the stack reads the
//! ports it got from its log, so no port is ever picked, let go and then
//! taken by someone else before the service binds it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use shop_api::auth::{DEV_AUDIENCE, DEV_ISSUER, dev};

use crate::pg::DbServer;

/// The service credential of the local stack. Development only.
pub use shop_api::auth::DEV_INTERNAL_TOKEN;

/// Every service, in start order (a service starts after those it calls):
/// the storefront, which calls the other three, last.
pub const SERVICES: &[&str] = &["product", "cart", "order", "web"];

/// Where one service listens. Port 0 means any free port: the service
/// binds it and [`Stack::start`] fills in the port it got.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: &'static str,
    pub port: u16,
    pub admin_port: u16,
}

impl Endpoint {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// How the stack's processes log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logs {
    /// Pretty logs on this terminal.
    Terminal,
    /// JSON logs into `target/stack-logs/<service>.log`.
    Files,
}

/// The running services; stopped with SIGTERM (a graceful shutdown) on drop.
pub struct Stack {
    pub endpoints: Vec<Endpoint>,
    children: Vec<Child>,
}

impl Stack {
    /// Creates each service's database and role, builds the binaries and
    /// starts them, then waits until every one is ready.
    pub fn start(db: &DbServer, endpoints: Vec<Endpoint>, logs: Logs) -> anyhow::Result<Self> {
        Self::start_with(db, endpoints, logs, Profile::Debug)
    }

    /// Like [`Stack::start`], with the binaries built in `profile`.
    pub fn start_with(
        db: &DbServer,
        endpoints: Vec<Endpoint>,
        logs: Logs,
        profile: Profile,
    ) -> anyhow::Result<Self> {
        Self::start_configured(db, endpoints, logs, profile, &[])
    }

    /// Like [`Stack::start_with`], with `extra` variables set in every
    /// service on top of the stack's own (`FAULTS_ENABLED=false`, say).
    pub fn start_configured(
        db: &DbServer,
        endpoints: Vec<Endpoint>,
        logs: Logs,
        profile: Profile,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::start_wrapped(db, endpoints, logs, profile, extra, None)
    }

    /// Like [`Stack::start_configured`], with one service started under
    /// a wrapper command (`valgrind --tool=callgrind ...`): `wrap` names
    /// the service and the wrapper's words, which go before the binary.
    pub fn start_wrapped(
        db: &DbServer,
        endpoints: Vec<Endpoint>,
        logs: Logs,
        profile: Profile,
        extra: &[(&str, &str)],
        wrap: Option<(&str, &[String])>,
    ) -> anyhow::Result<Self> {
        let urls = endpoints
            .iter()
            .map(|svc| db.create_service_db(svc.name))
            .collect::<anyhow::Result<Vec<_>>>()?;
        build(&endpoints, profile)?;
        let mut stack = Stack {
            endpoints: Vec::new(),
            children: Vec::new(),
        };
        // In start order, so that each service is told the real addresses of
        // those it calls, which started before it.
        for (svc, url) in endpoints.iter().zip(&urls) {
            let known: Vec<Endpoint> = endpoints
                .iter()
                .filter_map(|e| {
                    let started = stack.endpoints.iter().find(|s| s.name == e.name);
                    let fixed = (e.port != 0 && e.admin_port != 0).then_some(e);
                    started.or(fixed).cloned()
                })
                .collect();
            let wrapper = wrap.and_then(|(name, words)| (name == svc.name).then_some(words));
            let mut child = spawn(svc, url, &known, logs, profile, extra, wrapper)?;
            let bound = if svc.port == 0 || svc.admin_port == 0 {
                match bound_endpoint(svc, &mut child, logs) {
                    Ok(bound) => bound,
                    Err(e) => {
                        stack.children.push(child);
                        return Err(e);
                    }
                }
            } else {
                svc.clone()
            };
            stack.children.push(child);
            stack.endpoints.push(bound);
        }
        for (svc, child) in stack.endpoints.iter().zip(&mut stack.children) {
            wait_ready(svc, child)?;
        }
        Ok(stack)
    }

    pub fn url(&self, name: &str) -> String {
        self.endpoints
            .iter()
            .find(|e| e.name == name)
            .map(Endpoint::url)
            .unwrap_or_default()
    }

    /// Each service's process id.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.endpoints
            .iter()
            .zip(&self.children)
            .map(|(e, child)| (e.name, child.id()))
            .collect()
    }

    /// Each service's resident memory in KiB, from /proc (Linux).
    pub fn rss_kib(&self) -> Vec<(&'static str, u64)> {
        self.endpoints
            .iter()
            .zip(&self.children)
            .map(|(e, child)| {
                let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
                    .unwrap_or_default();
                let kib = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    .unwrap_or(0);
                (e.name, kib)
            })
            .collect()
    }

    /// The variables the e2e suite reads to find this stack.
    pub fn e2e_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .endpoints
            .iter()
            .map(|e| (format!("SHOP_{}_URL", e.name.to_uppercase()), e.url()))
            .collect();
        env.push(("SHOP_INTERNAL_TOKEN".into(), DEV_INTERNAL_TOKEN.into()));
        env
    }
}

impl Stack {
    /// Stops every service with SIGTERM, as an orchestrator would, and
    /// checks each exited 0: a service that cannot shut down cleanly (a
    /// panic in the drain, a hung listener past its deadline) fails the
    /// command that ran it, not only its logs.
    pub fn stop(mut self) -> anyhow::Result<()> {
        for child in &mut self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let mut unclean = Vec::new();
        let children = std::mem::take(&mut self.children);
        for (i, mut child) in children.into_iter().enumerate() {
            let status = child.wait()?;
            if !status.success() {
                let name = self.endpoints.get(i).map_or("a service", |e| e.name);
                unclean.push(format!("{name} exited with {status} after SIGTERM"));
            }
        }
        anyhow::ensure!(unclean.is_empty(), "{}", unclean.join("; "));
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}

/// Fixed ports for people: product 8081 (admin 9081), cart 8082, order
/// 8083, web 8084.
pub fn fixed_endpoints() -> Vec<Endpoint> {
    SERVICES
        .iter()
        .enumerate()
        .map(|(i, name)| Endpoint {
            name,
            port: 8081 + i as u16,
            admin_port: 9081 + i as u16,
        })
        .collect()
}

/// Any free loopback ports, so tests never collide with a running `dev` or
/// another stack: every service binds port 0 and [`Stack::start`] reads
/// back what it got.
pub fn free_endpoints() -> Vec<Endpoint> {
    SERVICES
        .iter()
        .map(|name| Endpoint {
            name,
            port: 0,
            admin_port: 0,
        })
        .collect()
}

/// Which cargo profile the stack's binaries are built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
    /// Release code with line tables and symbols kept (`[profile.profiling]`
    /// in Cargo.toml), for profilers: `cargo xtask bench callgrind`.
    Profiling,
}

impl Profile {
    /// The `cargo build` arguments that select this profile.
    pub fn cargo_args(self) -> &'static [&'static str] {
        match self {
            Profile::Debug => &[],
            Profile::Release => &["--release"],
            Profile::Profiling => &["--profile", "profiling"],
        }
    }
}

fn build(endpoints: &[Endpoint], profile: Profile) -> anyhow::Result<()> {
    let mut cmd = Command::new("cargo");
    cmd.arg("build")
        .args(profile.cargo_args())
        .current_dir(crate::workspace_root());
    for e in endpoints {
        cmd.args(["-p", e.name]);
    }
    if !cmd.status()?.success() {
        bail!("cargo build failed");
    }
    Ok(())
}

/// The environment a service gets in the local stack.
fn service_env(
    svc: &Endpoint,
    database_url: &str,
    all: &[Endpoint],
    logs: Logs,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("HTTP_ADDR", format!("127.0.0.1:{}", svc.port)),
        ("ADMIN_ADDR", format!("127.0.0.1:{}", svc.admin_port)),
        ("DATABASE_URL", database_url.to_owned()),
        ("AUTH_JWT_PUBLIC_KEY", dev::DEV_PUBLIC_KEY_PEM.to_owned()),
        ("AUTH_ISSUER", DEV_ISSUER.to_owned()),
        ("AUTH_AUDIENCE", DEV_AUDIENCE.to_owned()),
        ("INTERNAL_TOKEN", DEV_INTERNAL_TOKEN.to_owned()),
        // The development key and credential above are refused otherwise.
        ("DEVELOPMENT_MODE", "true".to_owned()),
        // The labs' fault switches, on each admin port (docs/labs/).
        ("FAULTS_ENABLED", "true".to_owned()),
        // The caller's RUST_LOG wins (`RUST_LOG=debug cargo xtask dev`).
        (
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,sqlx=warn".to_owned()),
        ),
        (
            "LOG_FORMAT",
            match logs {
                Logs::Terminal => "pretty",
                Logs::Files => "json",
            }
            .to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // Every service learns where the others are (PRODUCT_URL, CART_URL,
    // ...): those already known, which include every one it calls.
    for other in all.iter().filter(|o| o.name != svc.name) {
        env.push((format!("{}_URL", other.name.to_uppercase()), other.url()));
    }
    // The storefront's "sign in as" form: this stack is for development
    // (DEVELOPMENT_MODE above), and the tests sign in through it too.
    if svc.name == "web" {
        env.push(("WEB_DEV_SIGN_IN".to_owned(), "true".to_owned()));
        let key = crate::workspace_root().join("dev/keys/dev-private.pem");
        env.push((
            "WEB_DEV_SIGNING_KEY_FILE".to_owned(),
            key.display().to_string(),
        ));
    }
    env
}

fn log_dir() -> PathBuf {
    crate::workspace_root().join("target/stack-logs")
}

/// Where the stack's binaries are, once [`Stack::start_with`] built them.
pub fn binary_dir(profile: Profile) -> PathBuf {
    let dir = match profile {
        Profile::Debug => "target/debug",
        Profile::Release => "target/release",
        Profile::Profiling => "target/profiling",
    };
    crate::workspace_root().join(dir)
}

fn spawn(
    svc: &Endpoint,
    database_url: &str,
    all: &[Endpoint],
    logs: Logs,
    profile: Profile,
    extra: &[(&str, &str)],
    wrapper: Option<&[String]>,
) -> anyhow::Result<Child> {
    let exe = binary_dir(profile).join(svc.name);
    let mut cmd = match wrapper {
        Some([program, args @ ..]) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(&exe);
            cmd
        }
        _ => Command::new(&exe),
    };
    cmd.envs(service_env(svc, database_url, all, logs));
    cmd.envs(extra.iter().copied());
    if logs == Logs::Files {
        std::fs::create_dir_all(log_dir())?;
        let file = std::fs::File::create(log_dir().join(format!("{}.log", svc.name)))?;
        cmd.stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file));
    }
    cmd.spawn()
        .with_context(|| format!("starting {}", exe.display()))
}

/// The `starting` line a service logs once it has bound its listeners,
/// in the JSON log format: `{"message":"starting","http":"127.0.0.1:P",
/// "admin":"127.0.0.1:Q",...}` (`shop_common::server::main`).
fn parse_bound(line: &str) -> Option<(u16, u16)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["message"] != "starting" {
        return None;
    }
    let port = |field: &str| {
        v[field]
            .as_str()?
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.port())
    };
    Some((port("http")?, port("admin")?))
}

/// Waits (bounded: 60 s) for a service started on port 0 to log the ports
/// it bound, and returns its endpoint with them.
fn bound_endpoint(svc: &Endpoint, child: &mut Child, logs: Logs) -> anyhow::Result<Endpoint> {
    if logs != Logs::Files {
        bail!(
            "{}: free ports are read from the JSON log, so they need Logs::Files",
            svc.name
        );
    }
    let log = log_dir().join(format!("{}.log", svc.name));
    for _ in 0..1200 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some((port, admin_port)) = text.lines().find_map(parse_bound) {
            return Ok(Endpoint {
                name: svc.name,
                port,
                admin_port,
            });
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited ({status}) before binding its ports; its log ({}):\n{text}",
                svc.name,
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "{} did not log its ports within 60 s (log: {})",
        svc.name,
        log.display()
    )
}

fn wait_ready(svc: &Endpoint, child: &mut Child) -> anyhow::Result<()> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], svc.admin_port));
    for _ in 0..240 {
        // Our own process must still be the one answering: on a fixed port,
        // a service that failed to bind would leave the port to whoever has
        // it.
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited ({status}) before it was ready (logs: {})",
                svc.name,
                log_dir().display()
            );
        }
        if ready(addr) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!(
        "{} did not become ready within 60 s (logs: {})",
        svc.name,
        log_dir().display()
    )
}

/// One GET /readyz over a plain socket: the stack must not depend on an
/// HTTP client to know it is up.
fn ready(addr: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 12];
    s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n").is_ok()
        && s.read_exact(&mut head).is_ok()
        && &head[9..12] == b"200"
}

#[cfg(test)]
mod tests {
    use super::parse_bound;

    #[test]
    fn the_bound_ports_are_read_from_the_starting_line_only() {
        let starting = r#"{"timestamp":"2026-12-02T08:04:30.308496Z","level":"INFO","message":"starting","service":"product","version":"0.1.0","http":"127.0.0.1:40223","admin":"127.0.0.1:33831","target":"shop_common::server"}"#;
        assert_eq!(parse_bound(starting), Some((40223, 33831)));
        let other =
            r#"{"level":"INFO","message":"migrated","http":"127.0.0.1:1","admin":"127.0.0.1:2"}"#;
        assert_eq!(parse_bound(other), None);
        assert_eq!(parse_bound("not json"), None);
    }
}
