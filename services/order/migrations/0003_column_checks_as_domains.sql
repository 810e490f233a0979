-- Column checks as domains: the same rules, checked more cheaply.
--
-- PostgreSQL checks every CHECK constraint of a table on every row an
-- INSERT or UPDATE writes, whichever columns changed, and it rebuilds each
-- from its stored text (parses it) for every statement that writes; a
-- checkout writes orders twice and order_lines twice. A domain guards a
-- column as well: its check runs whenever a value is stored into the
-- column (INSERT, UPDATE, COPY), for the columns a statement writes only,
-- and each connection keeps the check parsed. See cart's migration 0003
-- and the README's Performance section for the measurement.
--
-- The domains are created bare, the columns moved onto them (no table
-- rewrite: a domain without a check is binary-compatible with its base
-- type), and only then are the checks added, which reads the rows once to
-- validate them. Adding the checks first would rewrite both tables.

CREATE DOMAIN user_subject AS text;
CREATE DOMAIN idempotency_key_text AS text;
CREATE DOMAIN order_status AS text;
CREATE DOMAIN line_quantity AS integer;

ALTER TABLE orders
    DROP CONSTRAINT orders_user_id_check, ALTER user_id TYPE user_subject,
    DROP CONSTRAINT orders_idempotency_key_check,
    ALTER idempotency_key TYPE idempotency_key_text,
    DROP CONSTRAINT orders_status_check, ALTER status TYPE order_status;
ALTER TABLE order_lines
    DROP CONSTRAINT order_lines_quantity_check, ALTER quantity TYPE line_quantity;

ALTER DOMAIN user_subject ADD CONSTRAINT user_subject_check
    CHECK (char_length(VALUE) BETWEEN 1 AND 255);
ALTER DOMAIN idempotency_key_text ADD CONSTRAINT idempotency_key_text_check
    CHECK (char_length(VALUE) BETWEEN 1 AND 255);
ALTER DOMAIN order_status ADD CONSTRAINT order_status_check
    CHECK (VALUE IN ('pending', 'confirmed', 'failed', 'cancelled'));
ALTER DOMAIN line_quantity ADD CONSTRAINT line_quantity_check CHECK (VALUE > 0);
