-- One row per product in a user's cart. The owner is the token's subject,
-- never a body field.

-- Revisions come from one sequence, so a line that is removed and added
-- again never gets a revision it had before: a checkout that read the old
-- line cannot remove the new one.
CREATE SEQUENCE cart_line_revisions;

CREATE TABLE cart_lines (
    user_id           text NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 255),
    product_id        uuid NOT NULL,
    quantity          integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    -- What the product cost when added: shown (marked stale) when the
    -- product service cannot be reached.
    unit_price_amount bigint NOT NULL CHECK (unit_price_amount >= 0),
    currency          text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    name              text NOT NULL,
    revision          bigint NOT NULL DEFAULT nextval('cart_line_revisions'),
    added_at          timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, product_id)
);
