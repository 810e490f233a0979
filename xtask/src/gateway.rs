//! The Compose gateway's nginx.conf, run by the host's nginx in front of a
//! local stack, so `bench reads` can measure a read through the gateway
//! beside the same read direct, in one run. Only the addresses change:
//! the routes, headers, keep-alive pools and access log are the file's.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::pg::free_port;
use crate::stack::Stack;

/// A running nginx; stopped on drop.
pub struct LocalGateway {
    child: Child,
    port: u16,
}

impl Drop for LocalGateway {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: nginx's master stops its workers only when
        // it is asked (a killed master leaves them running).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl LocalGateway {
    /// Starts nginx with docker/gateway/nginx.conf on free loopback ports,
    /// its upstreams the stack's services. `None` when no nginx is
    /// installed (Debian: apt-get install nginx).
    pub fn start(stack: &Stack) -> anyhow::Result<Option<Self>> {
        let Some(nginx) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
        else {
            return Ok(None);
        };
        let root = crate::workspace_root();
        let dir = root.join("target/bench/gateway");
        std::fs::create_dir_all(&dir)?;
        let (port, health) = (free_port()?, free_port()?);
        let conf = std::fs::read_to_string(root.join("docker/gateway/nginx.conf"))?;
        let dir_s = dir.display().to_string();
        let swaps = [
            ("listen 8080;", format!("listen 127.0.0.1:{port};")),
            ("listen 8081;", format!("listen 127.0.0.1:{health};")),
            ("pid /tmp/nginx.pid;", format!("pid {dir_s}/nginx.pid;")),
            (
                "include /tmp/gateway/upstreams.conf;",
                format!("include {dir_s}/upstreams.conf;"),
            ),
            (
                "access_log /dev/stdout json;",
                format!("access_log {dir_s}/access.log json;"),
            ),
        ];
        let mut local = conf.clone();
        for (from, to) in &swaps {
            if !local.contains(from) {
                bail!(
                    "docker/gateway/nginx.conf no longer has {from:?}; update xtask/src/gateway.rs"
                );
            }
            local = local.replace(from, to);
        }
        std::fs::write(dir.join("nginx.conf"), local)?;
        // As gateway.sh writes them, with the stack's loopback addresses; a
        // service the stack did not start gets a server marked `down`, as
        // gateway.sh writes for a service with no replica (nginx answers
        // its routes with the 503 problem).
        let upstreams: String = crate::stack::SERVICES
            .iter()
            .map(|name| {
                let url = stack.url(name);
                let server = match url.strip_prefix("http://") {
                    Some(addr) => format!("{} max_fails=0", addr.trim_end_matches('/')),
                    None => format!("127.0.0.1:{port} down"),
                };
                format!(
                    "upstream {name} {{\n    server {server};\n    keepalive 64;\n    keepalive_timeout 30s;\n}}\n"
                )
            })
            .collect();
        std::fs::write(dir.join("upstreams.conf"), upstreams)?;
        let child = Command::new(&nginx)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("error.log"))?)
            .spawn()
            .context("starting nginx")?;
        let gateway = Self { child, port };
        let since = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", health)).is_err() {
            if since.elapsed() > Duration::from_secs(10) {
                bail!(
                    "nginx did not start; see {}",
                    dir.join("error.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Some(gateway))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
