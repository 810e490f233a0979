#!/usr/bin/env bash
# Runs Docker Compose with the arguments given, whichever Compose this
# machine has: Compose v2 (the `docker compose` plugin of the Docker CLI)
# when the CLI has it, else Compose v1 (the standalone `docker-compose`,
# such as Debian 12's 1.29). Everything that drives Compose goes through
# here, so the choice is made in one place: docker/ci.sh and the Rust tests
# that shell out to Compose (e2e::compose, tests/src/lib.rs).
#
#   bash docker/compose.sh config -q
#   bash docker/compose.sh --which     # prints the command it would run
#
# docker-compose.yml keeps to what both versions accept (v1 is the stricter
# of the two, so `config -q` under v1 is the check that matters). Exits 127
# when neither is installed.
set -euo pipefail

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "docker/compose.sh: no Docker Compose found: install the Docker CLI's compose plugin" \
    "(Compose v2) or docker-compose (v1)" >&2
  exit 127
fi

if [[ ${1:-} == --which ]]; then
  echo "${compose[*]}"
  exit 0
fi
exec "${compose[@]}" "$@"
