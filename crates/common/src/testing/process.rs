//! A service's real binary as a child process, for the tests that need
//! what only a process has: signals (SIGTERM's drain, SIGKILL's crash),
//! the exit code, and `main` itself. Everything else starts the service in
//! the test process with [`super::TestApp`].

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use shop_api::auth::dev::DEV_PUBLIC_KEY_PEM;
use shop_api::auth::{DEV_AUDIENCE, DEV_ISSUER};
use tokio::sync::mpsc;

use super::TEST_INTERNAL_TOKEN;

/// Loopback, any free port: the process binds it and logs which it got.
pub const ANY_PORT: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));

/// How long a process may take to log "starting" and to turn ready: far
/// above what it should take, so a slow machine never fails a test.
const START_BOUND: Duration = Duration::from_secs(30);

/// The service binaries, built together as `cargo xtask` builds its local
/// stack: one set of features, so that after `cargo xtask test` (or `dev`)
/// [`service_binary`]'s build finds everything fresh.
const SERVICE_BINARIES: [&str; 4] = ["product", "cart", "order", "web"];

/// The binary of service `name` (`product`, `cart`, `order` or `web`),
/// built from the workspace's code as it is now, for a test that starts
/// another package's service as a process: cargo builds
/// `CARGO_BIN_EXE_<name>` only for the tests of the package that has the
/// binary. The first call in a test process runs `cargo build` for the
/// service binaries, in the test's own profile and target directory (a
/// no-op when they are fresh, a build otherwise), so a test never runs a
/// stale binary. Blocks while cargo runs. With `SHOP_SERVICE_BINARIES`
/// set, nothing is built: it names the directory of binaries built from
/// this code already (`cargo xtask test` sets it to those of the stack it
/// built just before the tests).
pub fn service_binary(name: &str) -> PathBuf {
    assert!(
        SERVICE_BINARIES.contains(&name),
        "{name} is not a service binary"
    );
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(|| match std::env::var_os("SHOP_SERVICE_BINARIES") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => build_service_binaries(),
    });
    let binary = match dir {
        Ok(dir) => dir.join(name),
        Err(e) => panic!("{e}"),
    };
    assert!(
        binary.is_file(),
        "no service binary at {}",
        binary.display()
    );
    binary
}

/// `cargo build` for [`SERVICE_BINARIES`]; the directory they are in.
fn build_service_binaries() -> Result<PathBuf, String> {
    // A test binary is `<target dir>/<profile dir>/deps/<name>-<hash>`.
    let exe = std::env::current_exe().map_err(|e| format!("the test's own path: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not in a target directory", exe.display()))?;
    let target_dir = profile_dir.parent().unwrap_or(profile_dir);
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--quiet", "--profile", profile, "--target-dir"])
        .arg(target_dir)
        // The queries are checked offline, as every build here does; a
        // DATABASE_URL (the tests' server) must not turn the macros online.
        .env("SQLX_OFFLINE", "true")
        .env_remove("DATABASE_URL");
    // What cargo sets for the process running a test (the test's package
    // name, manifest, OUT_DIR, ...) is not the environment of a build: build
    // scripts that watch such a variable (ring's watch CARGO_PKG_NAME)
    // would see it change, and rebuild here and again in the next build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_for_tests = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_", "CARGO_CFG_"]
            .iter()
            .any(|p| key.starts_with(p))
            || matches!(
                &*key,
                "CARGO"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "OUT_DIR"
            );
        if set_for_tests {
            cmd.env_remove(&*key);
        }
    }
    for name in SERVICE_BINARIES {
        cmd.args(["-p", name]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("run cargo to build the service binaries: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build of the service binaries failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(profile_dir.to_owned())
}

/// A service binary started by a test; SIGKILLed when dropped (when a test
/// fails first), so no process outlives its test.
pub struct ServiceProcess {
    name: String,
    child: Child,
    /// Where it serves the API.
    pub http: SocketAddr,
    /// Where it serves health and metrics.
    pub admin: SocketAddr,
    /// Its log lines, as JSON, in order.
    logs: mpsc::UnboundedReceiver<Value>,
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServiceProcess {
    /// Starts `binary` (`env!("CARGO_BIN_EXE_<name>")`) on `addrs` (API,
    /// admin; [`ANY_PORT`] for a free one) with the development keys, the
    /// test credential, `DATABASE_URL` and `env` on top, and waits until it
    /// is ready. The addresses come from its "starting" log line, so no
    /// port is picked before the process binds it (a free port picked
    /// early can be taken by someone else in the meantime). Logs warnings
    /// and the platform's lines about starting and stopping unless `env`
    /// sets `RUST_LOG`.
    pub async fn start(
        binary: &str,
        database_url: &str,
        addrs: (SocketAddr, SocketAddr),
        env: &[(&str, String)],
    ) -> Self {
        let name = std::path::Path::new(binary)
            .file_name()
            .map_or_else(|| binary.to_owned(), |n| n.to_string_lossy().into_owned());
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("HTTP_ADDR", addrs.0.to_string())
            .env("ADMIN_ADDR", addrs.1.to_string())
            .env("DATABASE_URL", database_url)
            .env("AUTH_JWT_PUBLIC_KEY", DEV_PUBLIC_KEY_PEM)
            .env("AUTH_ISSUER", DEV_ISSUER)
            .env("AUTH_AUDIENCE", DEV_AUDIENCE)
            .env("INTERNAL_TOKEN", TEST_INTERNAL_TOKEN)
            .env("DEVELOPMENT_MODE", "true")
            .env(
                "RUST_LOG",
                "warn,shop_common::service=info,shop_common::server=info",
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let logs = log_lines(&name, child.stdout.take().expect("stdout is piped"));
        let mut process = Self {
            name,
            child,
            http: addrs.0,
            admin: addrs.1,
            logs,
        };
        let starting = process.logged("starting").await;
        let addr = |field: &str| {
            starting[field]
                .as_str()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("no {field} address in {starting}"))
        };
        (process.http, process.admin) = (addr("http"), addr("admin"));
        process.wait_ready().await;
        process
    }

    /// `http://{api address}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// `http://{admin address}{path}`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    async fn wait_ready(&mut self) {
        let url = self.admin_url("/readyz");
        let since = Instant::now();
        while since.elapsed() < START_BOUND {
            if let Ok(r) = reqwest::get(&url).await
                && r.status() == 200
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the {} process ended before ready: {status}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the {} process did not become ready", self.name);
    }

    /// The next log line with this message (at most 30 s away).
    pub async fn logged(&mut self, message: &str) -> Value {
        let wait = async {
            while let Some(line) = self.logs.recv().await {
                if line["message"] == message {
                    return Some(line);
                }
            }
            None
        };
        match tokio::time::timeout(START_BOUND, wait).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!(
                "the {} process ended without logging {message:?}: {:?}",
                self.name,
                self.child.try_wait()
            ),
            Err(_) => panic!("the {} process did not log {message:?} in time", self.name),
        }
    }

    /// Every log line up to and including the next one for which `last`
    /// holds (at most 30 s away), in order; lines before it are not lost,
    /// unlike with [`Self::logged`].
    pub async fn lines_until(&mut self, mut last: impl FnMut(&Value) -> bool) -> Vec<Value> {
        let mut lines = Vec::new();
        let wait = async {
            while let Some(line) = self.logs.recv().await {
                let done = last(&line);
                lines.push(line);
                if done {
                    return true;
                }
            }
            false
        };
        match tokio::time::timeout(START_BOUND, wait).await {
            Ok(true) => lines,
            Ok(false) => panic!(
                "the {} process ended before the line awaited: {:?}",
                self.name,
                self.child.try_wait()
            ),
            Err(_) => panic!(
                "the {} process did not log the line awaited in time",
                self.name
            ),
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("poll the process").is_none()
    }

    /// Sends SIGTERM, as an orchestrator stopping it would.
    pub fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM sent");
    }

    /// SIGKILLs it (a crash from outside) and reaps it.
    pub fn kill(&mut self) -> ExitStatus {
        self.child.kill().expect("SIGKILL the process");
        self.child.wait().expect("reap the process")
    }

    /// Waits for the process to end by itself, at most `bound` (a sanity
    /// bound, not a measurement: far above what it should take); `None`
    /// if it is still running then.
    pub async fn exited_within(&mut self, bound: Duration) -> Option<ExitStatus> {
        let since = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the process") {
                return Some(status);
            }
            if since.elapsed() >= bound {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Reads the process's JSON log lines off its stdout on a thread of its
/// own, for as long as it writes (so the pipe never fills and blocks it).
/// With `TEST_LOG` set, every line goes to the test's output too.
fn log_lines(name: &str, stdout: ChildStdout) -> mpsc::UnboundedReceiver<Value> {
    let (tx, rx) = mpsc::unbounded_channel();
    let echo = std::env::var_os("TEST_LOG").is_some();
    let name = name.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if echo {
                eprintln!("{name}: {line}");
            }
            // A receiver gone means the test is over; keep draining.
            let _ = tx.send(serde_json::from_str(&line).unwrap_or(Value::Null));
        }
    });
    rx
}
