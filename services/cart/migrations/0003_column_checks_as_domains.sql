-- Column checks as domains: the same rules, checked more cheaply.
--
-- PostgreSQL checks every CHECK constraint of a table on every row an
-- INSERT or UPDATE writes, whichever columns changed, and it rebuilds each
-- from its stored text (parses it) for every statement that writes. On the
-- write path of every add-to-cart and checkout that parsing stood out in
-- the server's profile (perf: ExecConstraints, stringToNode, pg_strtok).
-- A domain guards a column as well: its check runs whenever a value is
-- stored into the column (INSERT, UPDATE, COPY), for the columns a
-- statement writes only, and each connection keeps the check parsed.
-- Measured on the checkout floor (`cargo xtask bench checkout`, all three
-- services' tables): about 12 % less PostgreSQL CPU per checkout.
-- The README's Performance section has the measurement.
--
-- The domains are created bare, the columns moved onto them (a domain
-- without a check is binary-compatible with its base type: no table
-- rewrite), and only then are the checks added, which reads the rows once
-- to validate them. Adding the checks first would rewrite every table.

CREATE DOMAIN user_subject AS text;
CREATE DOMAIN cart_quantity AS integer;
CREATE DOMAIN money_amount AS bigint;
CREATE DOMAIN currency_code AS text;

ALTER TABLE cart_lines
    DROP CONSTRAINT cart_lines_user_id_check, ALTER user_id TYPE user_subject,
    DROP CONSTRAINT cart_lines_quantity_check, ALTER quantity TYPE cart_quantity,
    DROP CONSTRAINT cart_lines_unit_price_amount_check,
    ALTER unit_price_amount TYPE money_amount,
    DROP CONSTRAINT cart_lines_currency_check, ALTER currency TYPE currency_code;

ALTER DOMAIN user_subject ADD CONSTRAINT user_subject_check
    CHECK (char_length(VALUE) BETWEEN 1 AND 255);
ALTER DOMAIN cart_quantity ADD CONSTRAINT cart_quantity_check CHECK (VALUE BETWEEN 1 AND 99);
ALTER DOMAIN money_amount ADD CONSTRAINT money_amount_check CHECK (VALUE >= 0);
ALTER DOMAIN currency_code ADD CONSTRAINT currency_code_check CHECK (VALUE ~ '^[A-Z]{3}$');

-- RETURN QUERY must return the declared column types exactly, and the
-- columns are domains now: 0002's function again, with the casts back to
-- the base types (its signature, and so its callers, unchanged).
CREATE OR REPLACE FUNCTION cart_set_quantity(
    p_user      text,
    p_lock_key  int8,
    p_product   uuid,
    p_quantity  int4,
    p_price     int8,
    p_currency  text,
    p_name      text,
    p_max_lines int4
) RETURNS TABLE (
    outcome           text,
    product_id        uuid,
    quantity          int4,
    unit_price_amount int8,
    currency          text,
    name              text,
    revision          int8
) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    lines   int;
    present boolean;
    mixed   boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock_key);

    SELECT count(*), coalesce(bool_or(c.product_id = p_product), false),
           coalesce(bool_or(c.currency <> p_currency), false)
    INTO lines, present, mixed
    FROM cart_lines c WHERE c.user_id = p_user;

    IF (present OR lines < p_max_lines) AND NOT mixed THEN
        RETURN QUERY
        INSERT INTO cart_lines AS c (user_id, product_id, quantity, unit_price_amount, currency, name)
        VALUES (p_user, p_product, p_quantity, p_price, p_currency, p_name)
        ON CONFLICT ON CONSTRAINT cart_lines_pkey DO UPDATE SET
            quantity = EXCLUDED.quantity, unit_price_amount = EXCLUDED.unit_price_amount,
            currency = EXCLUDED.currency, name = EXCLUDED.name,
            revision = nextval('cart_line_revisions'), updated_at = now()
        RETURNING 'set'::text, c.product_id, c.quantity::int4, c.unit_price_amount::int8,
            c.currency::text, c.name, c.revision;
    ELSE
        RETURN QUERY
        SELECT 'refused'::text, c.product_id, c.quantity::int4, c.unit_price_amount::int8,
            c.currency::text, c.name, c.revision
        FROM cart_lines c WHERE c.user_id = p_user
        ORDER BY c.added_at, c.product_id;
    END IF;
END
$$;
