//! Throwaway PostgreSQL clusters from the installed server binaries, and
//! `cargo xtask test`, which runs every test against one.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A running cluster in a temporary directory; stopped and deleted on drop,
/// also when a test run fails.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    run_as: Option<String>,
    pub port: u16,
}

impl Cluster {
    /// The superuser URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts a fresh cluster on a free loopback port, tuned for tests
    /// (no fsync: the data is thrown away anyway).
    pub fn start() -> anyhow::Result<Self> {
        let bin = find_bin_dir()?;
        let dir = std::env::temp_dir().join(format!("shop-pg-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        // PostgreSQL refuses to run as root; CI runs as root, so run the
        // server as the `postgres` user the server package creates.
        let run_as = if is_root() {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres")
                .arg(&dir)
                .status()?;
            if !status.success() {
                bail!(
                    "running as root needs a `postgres` user to run the server (apt-get install postgresql creates it)"
                );
            }
            Some("postgres".to_owned())
        } else {
            None
        };
        let port = free_port()?;
        let mut cluster = Self {
            bin,
            dir,
            run_as,
            port,
        };
        let data = cluster.dir.join("data");
        cluster
            .pg_cmd("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ])
            .output_checked("initdb")?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=400",
            cluster.dir.display()
        );
        let log = cluster.dir.join("server.log");
        let started = cluster
            .pg_cmd("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            .output_checked("pg_ctl start");
        if let Err(e) = started {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            cluster.port = 0;
            return Err(e.context(format!("server log:\n{tail}")));
        }
        Ok(cluster)
    }

    /// Runs SQL as the superuser in database `postgres`.
    pub fn psql(&self, sql: &str) -> anyhow::Result<()> {
        self.pg_cmd("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output_checked("psql")
            .map(|_| ())
    }

    fn pg_cmd(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c.current_dir(&self.dir);
                c
            }
            None => Command::new(exe),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let _ = self
                .pg_cmd("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

trait OutputChecked {
    fn output_checked(&mut self, what: &str) -> anyhow::Result<std::process::Output>;
}

impl OutputChecked for Command {
    fn output_checked(&mut self, what: &str) -> anyhow::Result<std::process::Output> {
        let out = self.output().with_context(|| format!("running {what}"))?;
        if !out.status.success() {
            bail!(
                "{what} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The directory holding `initdb` and `pg_ctl`: from PATH, else the newest
/// `/usr/lib/postgresql/<version>/bin` (where Debian puts them, off PATH).
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file());
    if let Some(dir) = on_path {
        // Debian links initdb into /usr/local/bin on some images; the real
        // directory also has postgres itself, which pg_ctl looks for beside it.
        let real = std::fs::canonicalize(dir.join("initdb"))?;
        return Ok(real.parent().map(Path::to_path_buf).unwrap_or(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, dir)) => Ok(dir),
        None => bail!(
            "no PostgreSQL server found: install it (Debian/Ubuntu: apt-get install postgresql) \
             or set DATABASE_URL to a server where this user may create databases"
        ),
    }
}

/// `cargo xtask test`: every test in the workspace. With `DATABASE_URL` set
/// it uses that server; otherwise it starts a throwaway cluster.
pub fn run_tests(extra: &[String]) -> anyhow::Result<()> {
    let _cluster;
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            let cluster = Cluster::start()?;
            eprintln!("xtask: throwaway PostgreSQL on 127.0.0.1:{}", cluster.port);
            let url = cluster.url("postgres");
            _cluster = cluster;
            url
        }
    };
    let nextest = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = Command::new("cargo");
    if nextest {
        cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        cmd.args(["test", "--workspace", "--no-fail-fast"]);
    }
    let status = cmd
        .args(extra)
        .env("DATABASE_URL", &url)
        // The services build their queries at run time, so the database is
        // never needed to compile; keep it that way.
        .env("SQLX_OFFLINE", "true")
        .current_dir(crate::workspace_root())
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}
