//! Throwaway PostgreSQL clusters from the installed server binaries, and
//! `DbServer`, the server every task creates its databases on.

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
    /// `extra_options` are more server options (`-c name=value ...`), such
    /// as the `pg_stat_statements` library `bench profile` loads.
    pub fn start(extra_options: &str) -> anyhow::Result<Self> {
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
        let mut cluster = Self {
            bin,
            dir,
            run_as,
            port: 0,
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
        let log = cluster.dir.join("server.log");
        // PostgreSQL cannot bind port 0 (the port also names its socket), so
        // a port is found free first and can be taken by someone else before
        // the server binds it: then try another (bounded).
        for attempt in 1..=5 {
            let port = free_port()?;
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=400 {extra_options}",
                cluster.dir.display()
            );
            let _ = std::fs::remove_file(&log);
            let started = cluster
                .pg_cmd("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-o", &options, "-l"])
                .arg(&log)
                .args(["-w", "-t", "60", "start"])
                .output_checked("pg_ctl start");
            match started {
                Ok(_) => {
                    cluster.port = port;
                    return Ok(cluster);
                }
                Err(e) => {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    if attempt < 5 && tail.contains("already in use") {
                        eprintln!(
                            "xtask: port {port} was taken before PostgreSQL bound it; trying another"
                        );
                        continue;
                    }
                    return Err(e.context(format!("server log:\n{tail}")));
                }
            }
        }
        unreachable!("the last attempt returns")
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

/// `Command::output`, failing with the command's output when it exits
/// non-zero.
pub trait OutputChecked {
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

/// A loopback port free right now (someone may take it before it is
/// bound: callers that can, bind port 0 instead).
pub fn free_port() -> anyhow::Result<u16> {
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

/// A PostgreSQL server the tasks may create databases on: the one
/// `DATABASE_URL` names, or a throwaway cluster started for the occasion.
pub struct DbServer {
    admin_url: reqwest::Url,
    psql: PathBuf,
    /// Set for a server we did not start: databases get a unique suffix and
    /// are dropped afterwards, so runs never collide or leave litter.
    suffix: Option<String>,
    created: std::cell::RefCell<Vec<String>>,
    cluster: Option<Cluster>,
}

impl DbServer {
    /// `DATABASE_URL` if set, else a throwaway cluster.
    pub fn from_env_or_start() -> anyhow::Result<Self> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self::new(url, None),
            _ => Self::throwaway(""),
        }
    }

    /// A throwaway cluster with more server options, whatever
    /// `DATABASE_URL` says (for what needs a server setting of its own).
    pub fn throwaway(extra_options: &str) -> anyhow::Result<Self> {
        let cluster = Cluster::start(extra_options)?;
        eprintln!("xtask: throwaway PostgreSQL on 127.0.0.1:{}", cluster.port);
        Self::new(cluster.url("postgres"), Some(cluster))
    }

    fn new(url: String, cluster: Option<Cluster>) -> anyhow::Result<Self> {
        let admin_url = reqwest::Url::parse(&url).context("DATABASE_URL")?;
        let psql = match find_bin_dir() {
            Ok(dir) if dir.join("psql").is_file() => dir.join("psql"),
            _ => PathBuf::from("psql"),
        };
        let suffix = cluster
            .is_none()
            .then(|| uuid::Uuid::now_v7().simple().to_string()[24..].to_owned());
        Ok(Self {
            admin_url,
            psql,
            suffix,
            created: Default::default(),
            cluster,
        })
    }

    /// The superuser (or database-creating user) URL.
    pub fn admin_url(&self) -> String {
        self.admin_url.to_string()
    }

    /// The server's main process, when this is a throwaway cluster (its
    /// CPU time and its children's are what `bench` charges PostgreSQL).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let cluster = self.cluster.as_ref()?;
        let pid_file = std::fs::read_to_string(cluster.dir.join("data/postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    /// Runs one SQL statement as the admin user.
    pub fn psql(&self, sql: &str) -> anyhow::Result<()> {
        Command::new(&self.psql)
            .arg(self.admin_url.as_str())
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output_checked("psql")
            .map(|_| ())
    }

    /// The admin user's URL of `database` on this server.
    pub fn url_in(&self, database: &str) -> reqwest::Url {
        let mut url = self.admin_url.clone();
        url.set_path(database);
        url
    }

    /// Runs an SQL file as the admin user in `database`, stopping at the
    /// first error.
    pub fn psql_file_in(&self, database: &str, file: &std::path::Path) -> anyhow::Result<()> {
        Command::new(&self.psql)
            .arg(self.url_in(database).as_str())
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-f"])
            .arg(file)
            .output_checked("psql")
            .map(|_| ())
    }

    /// Runs one query as the admin user and returns its rows, one a line,
    /// fields separated by `|` (psql's unaligned, tuples-only output).
    pub fn query(&self, sql: &str) -> anyhow::Result<String> {
        self.query_in(self.admin_url.path().trim_start_matches('/'), sql)
    }

    /// [`Self::query`] in another database of the server (statistics such
    /// as `pg_stat_user_tables` are per database).
    pub fn query_in(&self, database: &str, sql: &str) -> anyhow::Result<String> {
        let out = Command::new(&self.psql)
            .arg(self.url_in(database).as_str())
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-A",
                "-t",
                "-F",
                "|",
                "-c",
                sql,
            ])
            .output_checked("psql")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates a database and a login role for `service`, returning the URL
    /// the service connects with.
    pub fn create_service_db(&self, service: &str) -> anyhow::Result<String> {
        let name = match &self.suffix {
            Some(s) => format!("{service}_{s}"),
            None => service.to_owned(),
        };
        // Separate statements: CREATE DATABASE cannot run in a transaction.
        // Quoted: `order` is an SQL keyword.
        self.psql(&format!("CREATE ROLE \"{name}\" LOGIN PASSWORD '{name}'"))?;
        self.psql(&format!("CREATE DATABASE \"{name}\" OWNER \"{name}\""))?;
        self.created.borrow_mut().push(name.clone());
        let mut url = self.admin_url.clone();
        let _ = url.set_username(&name);
        let _ = url.set_password(Some(&name));
        url.set_path(&name);
        Ok(url.to_string())
    }
}

impl Drop for DbServer {
    fn drop(&mut self) {
        // A throwaway cluster is deleted whole; on someone else's server,
        // drop what we made.
        if self.cluster.is_none() {
            for name in self.created.borrow().iter() {
                let _ = self.psql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
                let _ = self.psql(&format!("DROP ROLE IF EXISTS \"{name}\""));
            }
        }
    }
}
