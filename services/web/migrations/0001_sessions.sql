-- Browser sessions of the storefront. The browser holds only a random
-- session id in an HttpOnly cookie; the user's bearer token stays here, so
-- no script in the page can ever read it (the backend-for-frontend pattern).
CREATE TABLE sessions (
    -- SHA-256 of the cookie's value: a copy of this table does not let
    -- anyone present a live session.
    id_hash     BYTEA PRIMARY KEY,
    -- The synchronizer token every POST form must carry.
    csrf_token  TEXT NOT NULL,
    -- NULL for a visitor who has not signed in (a session made so the
    -- sign-in form itself carries a CSRF token).
    user_id     TEXT,
    admin       BOOLEAN NOT NULL DEFAULT false,
    -- The bearer token sent to the APIs on the user's behalf.
    token       TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    CHECK ((user_id IS NULL) = (token IS NULL))
);

-- The sweeper deletes expired sessions by this.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
