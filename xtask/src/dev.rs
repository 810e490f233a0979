//! `cargo xtask dev`: the local stack on fixed ports (the storefront on
//! 127.0.0.1:8084) with the demo catalog loaded through the API, until
//! Ctrl-C.

use anyhow::Context;
use shop_api::ProductClient;
use shop_api::auth::dev;
use shop_api::product::NewProduct;

use crate::pg::DbServer;
use crate::stack::{self, Logs, Stack};

/// The demo catalog, loaded by `dev` (never by migrations, so production
/// databases start empty).
const CATALOG: &str = include_str!("../data/catalog.json");

pub fn run() -> anyhow::Result<()> {
    let db = DbServer::from_env_or_start()?;
    let stack = Stack::start(&db, stack::fixed_endpoints(), Logs::Terminal)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let loaded = load_catalog(&stack.url("product")).await?;
        let token = dev::token("alice", false, 24 * 3600);
        println!("\nShop is running (Ctrl-C stops it and deletes its data).\n");
        // The storefront first: what a person opens in a browser.
        println!(
            "  storefront {}   (sign in as any name; pages over the APIs below)\n",
            stack.url("web")
        );
        for e in &stack.endpoints {
            // The storefront's pages are no API: it has no API document.
            let doc = if e.name == "web" {
                String::new()
            } else {
                format!("   API doc {}/openapi.json", e.url())
            };
            println!(
                "  {:<8} {}   admin http://127.0.0.1:{}/metrics{doc}",
                e.name,
                e.url(),
                e.admin_port,
            );
        }
        println!(
            "  catalog  {loaded} demo products loaded\n  database {}\n\n\
             Try:\n  curl -s '{}/v1/products?category=kitchen&limit=3'\n\n\
             A user token (alice, 24 h; make others with `cargo xtask token <user> [--admin]`):\n  {token}\n",
            db.admin_url(),
            stack.url("product"),
        );
        tokio::signal::ctrl_c().await?;
        println!("\nstopping...");
        anyhow::Ok(())
    })?;
    drop(stack);
    drop(db);
    Ok(())
}

/// Loads the demo catalog (as [`load_catalog`]) and returns the ids of
/// its first `limit` products, for benches that read them.
pub async fn catalog_ids(product_url: &str, limit: u32) -> anyhow::Result<Vec<uuid::Uuid>> {
    load_catalog(product_url).await?;
    let page = ProductClient::new(reqwest::Client::new(), product_url)
        .list(&shop_api::product::ListProducts {
            limit: Some(limit),
            ..Default::default()
        })
        .await?;
    Ok(page.items.into_iter().map(|p| p.id).collect())
}

/// Loads the demo catalog through the public API, as an admin would.
pub async fn load_catalog(product_url: &str) -> anyhow::Result<usize> {
    let products: Vec<NewProduct> = serde_json::from_str(CATALOG).context("data/catalog.json")?;
    let client = ProductClient::new(reqwest::Client::new(), product_url).with_bearer(dev::token(
        "catalog-loader",
        true,
        600,
    ));
    for p in &products {
        client
            .create(p)
            .await
            .with_context(|| format!("loading {}", p.name))?;
    }
    Ok(products.len())
}
