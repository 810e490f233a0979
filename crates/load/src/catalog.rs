//! The products a run works on: its own (created with ample stock, archived
//! at the end) or the existing catalog (optionally restocked), with each
//! product's stock at the start, which the audit balances against.

use std::collections::BTreeMap;

use anyhow::Context;
use rand::Rng;
use shop_api::Money;
use shop_api::product::{ListProducts, NewProduct, Product, ProductPatch};
use uuid::Uuid;

use crate::cli::{Args, CatalogMode};
use crate::target::Target;

/// The run's products.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub products: Vec<Product>,
    /// Available stock of each product when the load started.
    pub initial: BTreeMap<Uuid, i64>,
    /// Categories to filter by while browsing.
    pub categories: Vec<String>,
    /// Words to search for while browsing.
    pub terms: Vec<String>,
    /// True when the run created these products (and archives them after).
    pub own: bool,
}

const KINDS: &[&str] = &[
    "kettle", "mug", "lamp", "scarf", "notebook", "teapot", "chair",
];

impl Catalog {
    /// Creates or reads the run's products.
    pub async fn prepare(target: &Target, args: &Args, run_id: &str) -> anyhow::Result<Self> {
        match args.catalog {
            CatalogMode::Own => Self::create(target, args, run_id).await,
            CatalogMode::Existing => Self::existing(target, args).await,
        }
    }

    async fn create(target: &Target, args: &Args, run_id: &str) -> anyhow::Result<Self> {
        let admin = target.admin_products()?;
        let categories: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|c| format!("load-{run_id}-{c}"))
            .collect();
        let mut products = Vec::with_capacity(args.products);
        let mut rng = rand::rng();
        for i in 0..args.products.max(1) {
            let kind = KINDS[i % KINDS.len()];
            let new = NewProduct {
                name: format!("Load {run_id} {kind} {i}"),
                description: "made by shop-load; archived when the run ends".into(),
                category: categories[i % categories.len()].clone(),
                price: Money::new(rng.random_range(100..10_000), "EUR"),
                stock: args.stock,
            };
            let p = admin.create(&new).await.with_context(|| {
                format!("creating the run's product {i} (an admin token is needed)")
            })?;
            products.push(p.body);
        }
        Ok(Self {
            initial: products
                .iter()
                .map(|p| (p.id, i64::from(p.stock)))
                .collect(),
            terms: vec![run_id.to_owned(), "kettle".into(), "mug".into()],
            categories,
            products,
            own: true,
        })
    }

    async fn existing(target: &Target, args: &Args) -> anyhow::Result<Self> {
        let public = target.products();
        let mut products = Vec::new();
        let mut cursor = None;
        loop {
            let page = public
                .list(&ListProducts {
                    limit: Some(100),
                    cursor: cursor.take(),
                    ..Default::default()
                })
                .await
                .context("listing the existing catalog")?;
            products.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        anyhow::ensure!(!products.is_empty(), "the existing catalog is empty");
        if args.restock {
            let admin = target.admin_products()?;
            for p in products.iter_mut().filter(|p| p.stock < args.stock) {
                let patch = ProductPatch {
                    stock: Some(args.stock),
                    ..Default::default()
                };
                *p = admin
                    .patch(p.id, &patch, None)
                    .await
                    .with_context(|| format!("restocking {}", p.name))?
                    .body;
            }
        }
        let mut categories: Vec<String> = products.iter().map(|p| p.category.clone()).collect();
        categories.sort();
        categories.dedup();
        let mut terms: Vec<String> = products
            .iter()
            .filter_map(|p| p.name.split_whitespace().next().map(str::to_lowercase))
            .collect();
        terms.sort();
        terms.dedup();
        Ok(Self {
            initial: products
                .iter()
                .map(|p| (p.id, i64::from(p.stock)))
                .collect(),
            categories,
            terms,
            products,
            own: false,
        })
    }

    /// Archives the run's own products (nothing for an existing catalog).
    pub async fn archive(&self, target: &Target) -> anyhow::Result<()> {
        if !self.own {
            return Ok(());
        }
        let admin = target.admin_products()?;
        let patch = ProductPatch {
            archived: Some(true),
            ..Default::default()
        };
        for p in &self.products {
            admin
                .patch(p.id, &patch, None)
                .await
                .with_context(|| format!("archiving {}", p.name))?;
        }
        Ok(())
    }
}
