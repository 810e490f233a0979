-- Orders and the state the checkout saga needs to finish or undo them.

CREATE TABLE orders (
    id                    uuid PRIMARY KEY,
    -- The owner: the token's subject.
    user_id               text NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 255),
    -- Scoped per user. Set to NULL when a checkout failed for a transient
    -- reason, so the client's retry with the same key starts afresh.
    idempotency_key       text CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    -- The canonical request body, to tell a retry from a different request.
    request_body          text NOT NULL,
    status                text NOT NULL CHECK (status IN ('pending', 'confirmed', 'failed', 'cancelled')),
    note                  text,
    failure_reason        text,
    total_amount          bigint,
    currency              text,
    -- The answer sent for this key, replayed byte for byte on retries.
    response_status       integer,
    response_body         text,
    -- Follow-up work the recovery worker retries until done.
    cart_cleanup_pending  boolean NOT NULL DEFAULT false,
    stock_release_pending boolean NOT NULL DEFAULT false,
    -- A worker that claims an order holds it until then.
    recovery_lease_until  timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key)
);

CREATE INDEX orders_by_user ON orders (user_id, id);
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending';
CREATE INDEX orders_follow_up ON orders (updated_at)
    WHERE cart_cleanup_pending OR stock_release_pending;

CREATE TABLE order_lines (
    order_id          uuid NOT NULL REFERENCES orders (id),
    product_id        uuid NOT NULL,
    quantity          integer NOT NULL CHECK (quantity > 0),
    -- Filled from the reservation when the order is confirmed.
    unit_price_amount bigint,
    currency          text,
    -- The cart line's revision when read, so only that line is removed.
    cart_revision     bigint NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
