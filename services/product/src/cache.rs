//! The read cache in front of `GET /v1/products/{id}`: found products kept
//! in this replica's memory, bounded in number and for at most a
//! time-to-live, so hot products are answered without the database.
//!
//! What it promises (docs/reservations.md, "Reads and the cache"):
//!
//! - A write through this replica is seen by the next read at once: the
//!   handler that wrote calls [`ProductCache::invalidate`] before it answers.
//! - Anything else that changes a row (another replica's write, a
//!   reservation taking or returning stock) is seen within the TTL, since an
//!   entry is dropped that long after it was read. Reservations do not
//!   invalidate: they lock the row and are the authority on stock, so a
//!   cached stock figure is only ever a hint.
//! - The body and its ETag come from one cached `Product`, whose `version`
//!   is the ETag, so a 304 is never answered for a body other than the one
//!   a 200 would carry.
//!
//! Only products that exist are kept: a 404 is never cached, so a product
//! created through any replica is found at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use moka::ops::compute::Op;
use moka::sync::Cache;
use prometheus::IntCounter;
use shop_api::product::Product;
use uuid::Uuid;

use crate::config::Settings;
use crate::metrics::ProductMetrics;

/// The cache of found products by id. Cheap to clone: clones share it.
#[derive(Clone)]
pub struct ProductCache {
    entries: Cache<Uuid, Product>,
    /// Counts invalidations. A read that missed remembers the count before
    /// it went to the database, and its result is kept only if no
    /// invalidation came in between (see [`ProductCache::insert`]).
    invalidations: Arc<AtomicU64>,
    hits: IntCounter,
    misses: IntCounter,
}

/// What a lookup found: the product, or a [`Miss`] to hand back to
/// [`ProductCache::insert`] with what the database had.
#[derive(Debug)]
pub enum Lookup {
    Hit(Product),
    Miss(Miss),
}

/// A lookup that found nothing, and when: the invalidation count before
/// the database was read. Only a `Miss` can be inserted, so every insert
/// knows whether a write may have overtaken the read it carries.
#[derive(Debug)]
#[must_use = "hand the miss back to `insert` with what the database had"]
pub struct Miss {
    invalidations: u64,
}

impl ProductCache {
    /// The cache `settings` ask for, or `None` when its TTL is zero (the
    /// cache off: no entries, and no hit or miss counted).
    pub fn new(settings: &Settings, metrics: &ProductMetrics) -> Option<Self> {
        if settings.cache_ttl.is_zero() {
            return None;
        }
        let entries = Cache::builder()
            .max_capacity(settings.cache_capacity)
            // Time to live, not time to idle: an entry read all the time
            // must still be refreshed from the database, or a hot product
            // would never show another replica's change.
            .time_to_live(settings.cache_ttl)
            .build();
        Some(Self {
            entries,
            invalidations: Arc::default(),
            hits: metrics.cache_requests.with_label_values(&["hit"]),
            misses: metrics.cache_requests.with_label_values(&["miss"]),
        })
    }

    /// The cached product, if one is cached and younger than the TTL.
    pub fn get(&self, id: Uuid) -> Lookup {
        // Taken before the lookup, so before the database read that follows
        // a miss: an invalidation after this point voids that read.
        let invalidations = self.invalidations.load(Ordering::SeqCst);
        match self.entries.get(&id) {
            Some(product) => {
                self.hits.inc();
                Lookup::Hit(product)
            }
            None => {
                self.misses.inc();
                Lookup::Miss(Miss { invalidations })
            }
        }
    }

    /// Keeps `product`, read from the database after `miss`, unless the
    /// cache was invalidated since the miss.
    ///
    /// Without that check a read could undo a write: a read fetches the old
    /// row, a patch commits and invalidates, and then the read inserts the
    /// old row, which would be served for a whole TTL after the patch was
    /// answered. Any invalidation voids the insert, not just one of this
    /// id: one counter is enough, and writes are rare enough that the reads
    /// it turns away cost nothing (the next read fills the entry).
    ///
    /// The check and the put run under moka's per-key lock, as does
    /// [`invalidate`](Self::invalidate)'s removal, so an invalidation is
    /// either counted before the check or removes the entry after the put.
    pub fn insert(&self, miss: Miss, product: Product) {
        self.entries.entry(product.id).and_compute_with(|_| {
            if self.invalidations.load(Ordering::SeqCst) == miss.invalidations {
                Op::Put(product)
            } else {
                Op::Nop
            }
        });
    }

    /// Forgets `id` after a write through this replica, so the next read
    /// goes to the database. Call it after the write, before answering.
    pub fn invalidate(&self, id: Uuid) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.entries.entry(id).and_compute_with(|_| Op::Remove);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use prometheus::Registry;
    use shop_api::Money;

    use super::*;

    fn product(id: Uuid, version: i64) -> Product {
        Product {
            id,
            name: "Kettle".into(),
            description: String::new(),
            category: "kitchen".into(),
            price: Money::new(2500, "EUR"),
            stock: 3,
            archived: false,
            version,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn cache(ttl_ms: u64) -> Option<ProductCache> {
        let settings = Settings {
            cache_ttl: Duration::from_millis(ttl_ms),
            ..Settings::default()
        };
        ProductCache::new(&settings, &ProductMetrics::register(&Registry::new()))
    }

    fn miss(cache: &ProductCache, id: Uuid) -> Miss {
        match cache.get(id) {
            Lookup::Miss(m) => m,
            Lookup::Hit(p) => panic!("expected a miss, got version {}", p.version),
        }
    }

    fn cached_version(cache: &ProductCache, id: Uuid) -> Option<i64> {
        match cache.get(id) {
            Lookup::Hit(p) => Some(p.version),
            Lookup::Miss(_) => None,
        }
    }

    #[test]
    fn a_zero_ttl_means_no_cache() {
        assert!(cache(0).is_none());
        assert!(cache(1).is_some());
    }

    #[test]
    fn what_a_miss_read_is_kept_until_invalidated() {
        let cache = cache(60_000).unwrap();
        let id = Uuid::now_v7();
        let m = miss(&cache, id);
        cache.insert(m, product(id, 1));
        assert_eq!(cached_version(&cache, id), Some(1));
        cache.invalidate(id);
        assert_eq!(cached_version(&cache, id), None);
    }

    /// The race the invalidation count exists for: a read that began
    /// before a write must not put the old row back after the write.
    #[test]
    fn a_read_overtaken_by_a_write_is_not_kept() {
        let cache = cache(60_000).unwrap();
        let id = Uuid::now_v7();
        let before_the_write = miss(&cache, id);
        cache.invalidate(id);
        cache.insert(before_the_write, product(id, 1));
        assert_eq!(cached_version(&cache, id), None);
        // A read that starts after the write is kept.
        let after = miss(&cache, id);
        cache.insert(after, product(id, 2));
        assert_eq!(cached_version(&cache, id), Some(2));
    }

    #[test]
    fn entries_live_no_longer_than_the_ttl() {
        let cache = cache(50).unwrap();
        let id = Uuid::now_v7();
        let m = miss(&cache, id);
        cache.insert(m, product(id, 1));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(cached_version(&cache, id), None);
    }
}
