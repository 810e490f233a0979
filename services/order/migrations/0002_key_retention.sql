-- The retention sweep (db::orders::forget_keys) runs on every worker tick
-- of every replica: it must find the few expired rows without reading the
-- whole table. Its two statements look for failed orders, and for finished
-- ones that still hold a key, by age; this partial index holds just those.
CREATE INDEX orders_retention ON orders (created_at)
    WHERE status = 'failed' OR idempotency_key IS NOT NULL;
