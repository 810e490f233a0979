-- Column checks as domains: the same rules, checked more cheaply.
--
-- PostgreSQL checks every CHECK constraint of a table on every row an
-- INSERT or UPDATE writes, whichever columns changed, and it rebuilds each
-- from its stored text (parses it) for every statement that writes. Every
-- reservation updates products (six checks, two of them regular
-- expressions, for a change of stock) and inserts into reservations and
-- reservation_lines. A domain guards a column as well: its check runs
-- whenever a value is stored into the column (INSERT, UPDATE, COPY), for
-- the columns a statement writes only, and each connection keeps the check
-- parsed. See cart's migration 0003 and the README's Performance section
-- for the measurement.
--
-- The domains are created bare, the columns moved onto them (no table
-- rewrite: a domain without a check is binary-compatible with its base
-- type), and only then are the checks added, which reads the rows once to
-- validate them. Adding the checks first would rewrite the tables.

CREATE DOMAIN product_name AS text;
CREATE DOMAIN product_description AS text;
CREATE DOMAIN category_slug AS text;
CREATE DOMAIN money_amount AS bigint;
CREATE DOMAIN currency_code AS text;
CREATE DOMAIN stock_level AS integer;
CREATE DOMAIN reservation_status AS text;
CREATE DOMAIN line_quantity AS integer;

ALTER TABLE products
    DROP CONSTRAINT products_name_check, ALTER name TYPE product_name,
    DROP CONSTRAINT products_description_check, ALTER description TYPE product_description,
    DROP CONSTRAINT products_category_check, ALTER category TYPE category_slug,
    DROP CONSTRAINT products_price_amount_check, ALTER price_amount TYPE money_amount,
    DROP CONSTRAINT products_currency_check, ALTER currency TYPE currency_code,
    DROP CONSTRAINT products_stock_check, ALTER stock TYPE stock_level;
ALTER TABLE reservations
    DROP CONSTRAINT reservations_status_check, ALTER status TYPE reservation_status;
ALTER TABLE reservation_lines
    DROP CONSTRAINT reservation_lines_quantity_check, ALTER quantity TYPE line_quantity,
    DROP CONSTRAINT reservation_lines_unit_price_amount_check,
    ALTER unit_price_amount TYPE money_amount;

ALTER DOMAIN product_name ADD CONSTRAINT product_name_check
    CHECK (char_length(VALUE) BETWEEN 1 AND 200);
ALTER DOMAIN product_description ADD CONSTRAINT product_description_check
    CHECK (char_length(VALUE) <= 2000);
ALTER DOMAIN category_slug ADD CONSTRAINT category_slug_check
    CHECK (VALUE ~ '^[a-z0-9-]{1,64}$');
ALTER DOMAIN money_amount ADD CONSTRAINT money_amount_check CHECK (VALUE >= 0);
ALTER DOMAIN currency_code ADD CONSTRAINT currency_code_check CHECK (VALUE ~ '^[A-Z]{3}$');
-- The last line of defence against overselling, as before: whatever the
-- code does, the database refuses to store a negative stock.
ALTER DOMAIN stock_level ADD CONSTRAINT stock_level_check CHECK (VALUE >= 0);
ALTER DOMAIN reservation_status ADD CONSTRAINT reservation_status_check
    CHECK (VALUE IN ('held', 'committed', 'released', 'expired'));
ALTER DOMAIN line_quantity ADD CONSTRAINT line_quantity_check CHECK (VALUE > 0);

-- RETURN QUERY must return the declared column types exactly, and the
-- columns are domains now: 0003's function again, with the casts back to
-- the base types (its signature, and so its callers, unchanged). Its
-- comments are in 0003.
CREATE OR REPLACE FUNCTION reserve_stock(
    p_id         uuid,
    p_status     text,
    p_ttl_secs   double precision,
    p_products   uuid[],
    p_quantities int4[]
) RETURNS TABLE (
    outcome      text,
    id           uuid,
    status       text,
    expires_at   timestamptz,
    created_at   timestamptz,
    updated_at   timestamptz,
    product_id   uuid,
    stock        int4,
    archived     boolean,
    price_amount int8,
    currency     text
) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    head reservations%ROWTYPE;
    servable int;
BEGIN
    INSERT INTO reservations AS r (id, status, expires_at)
    VALUES (p_id, p_status, now() + make_interval(secs => p_ttl_secs))
    ON CONFLICT ON CONSTRAINT reservations_pkey DO NOTHING
    RETURNING r.* INTO head;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'taken'::text, p_id, NULL::text, NULL::timestamptz,
            NULL::timestamptz, NULL::timestamptz, NULL::uuid, NULL::int4, NULL::boolean,
            NULL::int8, NULL::text;
        RETURN;
    END IF;

    SELECT count(*) FILTER (WHERE NOT p.archived AND p.stock >= l.quantity) INTO servable
    FROM (SELECT x.id, x.stock, x.archived FROM products x
          WHERE x.id = ANY(p_products) ORDER BY x.id FOR UPDATE) AS p
    JOIN unnest(p_products, p_quantities) AS l(product_id, quantity) ON p.id = l.product_id;

    IF servable = cardinality(p_products) THEN
        -- stock_level's check backs the count up: were it ever wrong,
        -- the statement would fail rather than oversell.
        UPDATE products p SET stock = p.stock - l.quantity, version = p.version + 1,
            updated_at = now()
        FROM unnest(p_products, p_quantities) AS l(product_id, quantity)
        WHERE p.id = l.product_id;
        INSERT INTO reservation_lines (reservation_id, product_id, quantity, unit_price_amount, currency)
        SELECT p_id, p.id, l.quantity, p.price_amount, p.currency
        FROM unnest(p_products, p_quantities) AS l(product_id, quantity)
        JOIN products p ON p.id = l.product_id;
        outcome := 'created';
    ELSE
        DELETE FROM reservations r WHERE r.id = p_id;
        outcome := 'refused';
    END IF;

    RETURN QUERY SELECT outcome, head.id, head.status::text, head.expires_at, head.created_at,
        head.updated_at, l.product_id, p.stock::int4, p.archived, p.price_amount::int8,
        p.currency::text
    FROM unnest(p_products) AS l(product_id)
    LEFT JOIN products p ON p.id = l.product_id
    ORDER BY l.product_id;
END
$$;
