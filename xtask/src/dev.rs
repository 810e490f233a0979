//! `cargo xtask dev`: the services on loopback over a throwaway PostgreSQL,
//! with the demo catalog loaded through the API, until Ctrl-C.

use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{Context, bail};
use shop_api::ProductClient;
use shop_api::auth::{DEV_AUDIENCE, DEV_ISSUER, dev};
use shop_api::product::NewProduct;

use crate::pg::Cluster;

/// The service credential of the local stack. Development only.
pub const DEV_INTERNAL_TOKEN: &str = "dev-internal-token-not-for-production-use";

/// A service of the local stack.
pub struct Service {
    pub name: &'static str,
    pub port: u16,
    pub admin_port: u16,
}

pub const PRODUCT: Service = Service {
    name: "product",
    port: 8081,
    admin_port: 9081,
};

/// Every service of the local stack, in start order.
pub const SERVICES: &[&Service] = &[&PRODUCT];

/// The demo catalog, loaded by `dev` (never by migrations, so production
/// databases start empty).
const CATALOG: &str = include_str!("../data/catalog.json");

pub fn run() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    for svc in SERVICES {
        // Separate statements: CREATE DATABASE cannot run in a transaction.
        cluster.psql(&format!("CREATE ROLE {0} LOGIN PASSWORD '{0}'", svc.name))?;
        cluster.psql(&format!("CREATE DATABASE {0} OWNER {0}", svc.name))?;
    }
    build(&SERVICES.iter().map(|s| s.name).collect::<Vec<_>>())?;
    let mut children = Children(Vec::new());
    for svc in SERVICES {
        let db = format!(
            "postgres://{0}:{0}@127.0.0.1:{1}/{0}",
            svc.name, cluster.port
        );
        children.0.push(spawn(svc, &db)?);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for svc in SERVICES {
            wait_ready(svc).await?;
        }
        let loaded = load_catalog().await?;
        let token = dev::token("alice", false, 24 * 3600);
        println!(
            "\nShop is running (Ctrl-C stops it and deletes its data).\n\n  \
             product  http://127.0.0.1:{p}   admin http://127.0.0.1:{pa}/metrics\n  \
             OpenAPI  http://127.0.0.1:{p}/openapi.json\n  \
             catalog  {loaded} demo products loaded\n  \
             database {url}\n\n\
             Try:\n  curl -s 'http://127.0.0.1:{p}/v1/products?category=kitchen&limit=3'\n\n\
             A user token (alice, 24 h; make others with `cargo xtask token <user> [--admin]`):\n  {token}\n",
            p = PRODUCT.port,
            pa = PRODUCT.admin_port,
            url = cluster.url("postgres"),
        );
        tokio::signal::ctrl_c().await?;
        println!("\nstopping...");
        anyhow::Ok(())
    })?;
    drop(children);
    drop(cluster);
    Ok(())
}

fn build(packages: &[&str]) -> anyhow::Result<()> {
    let mut cmd = Command::new("cargo");
    cmd.arg("build").current_dir(crate::workspace_root());
    for p in packages {
        cmd.args(["-p", p]);
    }
    if !cmd.status()?.success() {
        bail!("cargo build failed");
    }
    Ok(())
}

/// The environment a service gets in the local stack.
pub fn service_env(svc: &Service, database_url: &str) -> Vec<(String, String)> {
    [
        ("HTTP_ADDR", format!("127.0.0.1:{}", svc.port)),
        ("ADMIN_ADDR", format!("127.0.0.1:{}", svc.admin_port)),
        ("DATABASE_URL", database_url.to_owned()),
        ("AUTH_JWT_PUBLIC_KEY", dev::DEV_PUBLIC_KEY_PEM.to_owned()),
        ("AUTH_ISSUER", DEV_ISSUER.to_owned()),
        ("AUTH_AUDIENCE", DEV_AUDIENCE.to_owned()),
        ("INTERNAL_TOKEN", DEV_INTERNAL_TOKEN.to_owned()),
        ("LOG_FORMAT", "pretty".to_owned()),
        ("RUST_LOG", "info,sqlx=warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn spawn(svc: &Service, database_url: &str) -> anyhow::Result<Child> {
    let exe = crate::workspace_root().join("target/debug").join(svc.name);
    Command::new(&exe)
        .envs(service_env(svc, database_url))
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))
}

/// Children stopped with SIGTERM (a graceful shutdown) when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
    }
}

async fn wait_ready(svc: &Service) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{}/readyz", svc.admin_port);
    let http = reqwest::Client::new();
    for _ in 0..120 {
        if let Ok(resp) = http.get(&url).send().await
            && resp.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("{} did not become ready within 60 s", svc.name)
}

async fn load_catalog() -> anyhow::Result<usize> {
    let products: Vec<NewProduct> = serde_json::from_str(CATALOG).context("data/catalog.json")?;
    let client = ProductClient::new(
        reqwest::Client::new(),
        format!("http://127.0.0.1:{}", PRODUCT.port),
    )
    .with_bearer(dev::token("catalog-loader", true, 600));
    for p in &products {
        client
            .create(p)
            .await
            .with_context(|| format!("loading {}", p.name))?;
    }
    Ok(products.len())
}
