-- The catalog and stock reservations. Stock is the number of units free to
-- reserve; units held or sold live in reservation_lines, so at any instant
-- stock + held + committed equals what was ever put on the shelf.

CREATE TABLE products (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    category     text NOT NULL CHECK (category ~ '^[a-z0-9-]{1,64}$'),
    price_amount bigint NOT NULL CHECK (price_amount >= 0),
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- The last line of defence against overselling: whatever the code does,
    -- the database refuses a negative stock.
    stock        integer NOT NULL CHECK (stock >= 0),
    archived     boolean NOT NULL DEFAULT false,
    -- Bumped by every change; the ETag is derived from it.
    version      bigint NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Listing pages through ids (UUID v7, so in creation order) within a category.
CREATE INDEX products_listed_by_category ON products (category, id) WHERE NOT archived;

CREATE TABLE reservations (
    id         uuid PRIMARY KEY,
    status     text NOT NULL CHECK (status IN ('held', 'committed', 'released', 'expired')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The sweeper looks only at held reservations, oldest expiry first.
CREATE INDEX reservations_held_by_expiry ON reservations (expires_at) WHERE status = 'held';

CREATE TABLE reservation_lines (
    reservation_id    uuid NOT NULL REFERENCES reservations (id),
    product_id        uuid NOT NULL REFERENCES products (id),
    quantity          integer NOT NULL CHECK (quantity > 0),
    -- The authoritative price at reservation time: what the order charges.
    unit_price_amount bigint NOT NULL CHECK (unit_price_amount >= 0),
    currency          text NOT NULL,
    PRIMARY KEY (reservation_id, product_id)
);

CREATE INDEX reservation_lines_by_product ON reservation_lines (product_id);
