#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is first initialised (official image
# and stand-in alike): one role and one database per service, each owned by
# its service's role, so that no service can reach another's data.
# SHOP_DATABASES lists the services; <NAME>_DB_PASSWORD sets a role's
# password (default: the service's name, fine for a laptop and nothing else).
# Adding a service to an existing volume needs `docker compose down -v`.
set -euo pipefail

for name in ${SHOP_DATABASES:-product cart order web}; do
  var="${name^^}_DB_PASSWORD"
  password="${!var:-$name}"
  echo "creating role and database $name"
  # Separate statements: CREATE DATABASE cannot run inside a transaction.
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    --set name="$name" --set password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
