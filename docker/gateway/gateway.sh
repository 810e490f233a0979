#!/bin/sh
# The gateway's entry point: nginx with a keep-alive pool towards every
# service, that still follows `docker compose up --scale`.
#
# nginx keeps idle connections to an upstream only for servers named in an
# `upstream` block, and resolves those names once, at start. nginx 1.27.3
# and later can re-resolve them (`server ... resolve`), but the Debian
# stand-in is nginx 1.22, so this script does that job for any version:
# every few seconds it asks Docker's DNS for each service's replicas,
# writes them as `upstream` blocks, and on a change reloads nginx, which
# starts new workers with the new set and lets the old ones finish their
# requests (no connection is dropped). A service with no replica gets a
# server marked `down`, which nginx answers with 502, mapped to the 503
# problem in nginx.conf.
set -eu

SERVICES="product cart order web"
PORT=8080
CONF=/tmp/gateway/upstreams.conf
EVERY=${GATEWAY_RESOLVE_EVERY_SECS:-3}

render() {
  for svc in $SERVICES; do
    echo "upstream $svc {"
    addrs=$(getent ahostsv4 "$svc" 2>/dev/null | awk '{print $1}' | sort -u)
    if [ -z "$addrs" ]; then
      echo "    server 127.0.0.1:$PORT down;"
    fi
    for a in $addrs; do
      echo "    server $a:$PORT max_fails=0;"
    done
    # Idle connections kept per worker; requests beyond them open new ones.
    echo "    keepalive 64;"
    echo "    keepalive_timeout 30s;"
    echo "}"
  done
}

mkdir -p "$(dirname "$CONF")"
render >"$CONF"
# `gateway.sh --check`: only test the configuration (CI does, without the
# services running: every upstream is then `down`, which is valid).
if [ "${1:-}" = "--check" ]; then
  exec nginx -t -q
fi
nginx -g 'daemon off;' &
nginx_pid=$!
trap 'kill -TERM "$nginx_pid" 2>/dev/null; wait "$nginx_pid"; exit 0' TERM INT QUIT

while kill -0 "$nginx_pid" 2>/dev/null; do
  sleep "$EVERY" &
  wait $! || true
  render >"$CONF.new"
  if ! cmp -s "$CONF" "$CONF.new"; then
    mv "$CONF.new" "$CONF"
    echo "gateway: upstreams changed, reloading: $(grep -c 'server ' "$CONF") servers" >&2
    nginx -s reload || echo "gateway: reload failed; keeping the old set" >&2
  fi
done
wait "$nginx_pid"
