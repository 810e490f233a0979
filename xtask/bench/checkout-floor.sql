-- pgbench script: one checkout's statements, PostgreSQL alone.
--
-- `cargo xtask bench checkout` runs this beside `pgbench -N` and beside
-- shop-load's checkouts, on the same server, with the same 16 clients: each
-- "transaction" below is one add-to-cart + checkout as the services send it
-- to their databases (counted by `cargo xtask bench profile`: six round
-- trips, five commits), with no HTTP, no JSON, no services in between. Its
-- rate is the most checkouts per second the stack could reach on this
-- machine with these statements; shop-load's rate divided by it is the
-- share the services leave to PostgreSQL.
--
-- The three services' schemas share one database here (their table and
-- function names do not clash); the statements are the services' own text,
-- with pgbench variables where the services bind values. Where a value the
-- services hold in memory is needed by a later statement, `\gset` keeps it:
-- the order's id (the services make it in Rust; here it is made in SQL, a
-- time-ordered UUID as `Uuid::now_v7` gives) and the cart line's revision.
-- Every client is one user ('floor-' || client id) with a one-line cart.

\set product random(10, 29)
\set quantity random(1, 2)

-- cart: add to cart (services/cart/src/db/cart_lines.rs, set_quantity)
SELECT outcome, product_id, quantity, unit_price_amount, currency, name, revision
FROM cart_set_quantity('floor-' || :client_id::text, :client_id::int8,
    ('00000000-0000-0000-0000-0000000000' || :product::text)::uuid, :quantity::int4,
    1999, 'EUR', 'Product ' || :product::text, 50);

-- cart: order reads the cart (cart_lines.rs, lines)
SELECT product_id AS line_product, quantity AS line_quantity, revision AS line_revision
FROM cart_lines WHERE user_id = 'floor-' || :client_id::text
ORDER BY added_at, product_id \gset

-- order: the pending order with the lines read (services/order/src/db/orders.rs, begin)
WITH new_id AS (
  SELECT (substr(t, 1, 8) || '-' || substr(t, 9, 4) || substr(gen_random_uuid()::text, 14))::uuid AS id
  FROM (SELECT lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::int8), 12, '0') AS t) ts),
new_order AS (
  INSERT INTO orders (id, user_id, idempotency_key, request_body, note, status)
  SELECT new_id.id, 'floor-' || :client_id::text, new_id.id::text, '{}', NULL, 'pending' FROM new_id
  ON CONFLICT (user_id, idempotency_key) DO NOTHING
  RETURNING id, created_at),
new_lines AS (
  INSERT INTO order_lines (order_id, product_id, quantity, cart_revision)
  SELECT new_order.id, l.* FROM new_order,
    unnest(ARRAY[:line_product::uuid], ARRAY[:line_quantity::int4], ARRAY[:line_revision::int8])
      AS l(product_id, quantity, revision))
SELECT id AS order_id, created_at FROM new_order \gset

-- product: reserve and sell in one call (services/product/src/db/reservations.rs, reserve)
SELECT outcome, id, status, expires_at, created_at, updated_at,
  product_id, stock, archived, price_amount, currency
FROM reserve_stock(:order_id::uuid, 'committed', 900,
  ARRAY[:line_product::uuid], ARRAY[:line_quantity::int4]) \gset

-- cart: remove the lines the order read (cart_lines.rs, remove_revisions)
DELETE FROM cart_lines c USING unnest(ARRAY[:line_product::uuid], ARRAY[:line_revision::int8])
  AS r(product_id, revision)
WHERE c.user_id = 'floor-' || :client_id::text AND c.product_id = r.product_id
  AND c.revision = r.revision;

-- order: confirm with the stored answer (orders.rs, confirm); the answer is
-- the size of a one-line order's JSON (`: null` with a space: pgbench
-- reads `:name` as a variable anywhere)
WITH confirmed AS (
  UPDATE orders SET status = 'confirmed', total_amount = :price_amount::int8 * :line_quantity::int8,
    currency = 'EUR', cart_cleanup_pending = false, updated_at = now(),
    response_status = 201,
    response_body = '{"id":"' || :order_id::text || '","status":"confirmed","lines":[{"product_id":"'
      || :line_product::text || '","quantity":' || :line_quantity::text
      || ',"unit_price":{"amount":1999,"currency":"EUR"}}],"total":{"amount":1999,"currency":"EUR"},'
      || '"note": null, "failure_reason": null,"created_at":"2026-12-04T23:00:00.000000Z",'
      || '"updated_at":"2026-12-04T23:00:00.000000Z"}'
  WHERE id = :order_id::uuid AND status = 'pending' RETURNING id),
priced AS (
  UPDATE order_lines o SET unit_price_amount = p.amount, currency = p.currency
  FROM confirmed, unnest(ARRAY[:line_product::uuid], ARRAY[:price_amount::int8], ARRAY['EUR'])
    AS p(product_id, amount, currency)
  WHERE o.order_id = confirmed.id AND o.product_id = p.product_id)
SELECT count(*) FROM confirmed;
