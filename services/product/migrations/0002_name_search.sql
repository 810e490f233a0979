-- Search by name: `GET /v1/products?q=` is a public endpoint, and its
-- `name ILIKE '%...%'` cannot use a B-tree (the pattern starts with a
-- wildcard). A trigram index serves substring matches, so a search costs an
-- index probe instead of a scan of the whole catalog. pg_trgm ships with
-- PostgreSQL and is a trusted extension (13+): the database's owner, which
-- is the service's role, may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX products_name_trgm ON products USING gin (name gin_trgm_ops) WHERE NOT archived;
