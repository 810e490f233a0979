-- Add-to-cart in one round trip. `db::cart_lines::set_quantity` used to
-- send four statements (BEGIN with the user's advisory lock, read the
-- lines, upsert, COMMIT), four round trips; this function takes the same
-- lock, reads, checks and writes inside one statement's transaction, the
-- way product's `reserve_stock` reserves stock.
--
-- The check is the cart's rule (`domain::cart::check_addition`): at most
-- `p_max_lines` products, one currency. The function only decides whether
-- the line may be set; when not, it writes nothing and returns the cart's
-- lines (outcome 'refused'), and Rust's rule says why. When it may, it
-- returns the line as stored (outcome 'set').
--
-- The lock key is the number Rust derives from the user id (a name-based
-- UUID, see `lock_key`), the same on every replica and version. The lines
-- are read by a statement after the lock is granted, so they include
-- every change committed by whoever held it before (each statement of a
-- function takes a fresh snapshot).
CREATE FUNCTION cart_set_quantity(
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
-- Generic plans: see product's reserve_stock; planning every call afresh
-- costs more than the round trips saved.
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
        RETURNING 'set'::text, c.product_id, c.quantity, c.unit_price_amount, c.currency,
            c.name, c.revision;
    ELSE
        RETURN QUERY
        SELECT 'refused'::text, c.product_id, c.quantity, c.unit_price_amount, c.currency,
            c.name, c.revision
        FROM cart_lines c WHERE c.user_id = p_user
        ORDER BY c.added_at, c.product_id;
    END IF;
END
$$;
