#!/usr/bin/env bash
# Runs once, when the volume is empty (the image's docker-entrypoint-initdb.d):
# one role and one database per service, each role owning only its own
# database. Passwords come from the postgres Secret; the services' own
# Secrets carry the same values in their DATABASE_URL.
set -euo pipefail

for service in product cart order web; do
  var="${service^^}_DB_PASSWORD"
  password="${!var:?$var is not set}"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v service="$service" -v password="$password" <<'SQL'
CREATE ROLE :"service" LOGIN PASSWORD :'password';
CREATE DATABASE :"service" OWNER :"service";
REVOKE ALL ON DATABASE :"service" FROM PUBLIC;
SQL
done
