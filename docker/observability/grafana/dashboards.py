#!/usr/bin/env python3
"""Writes one Grafana dashboard per service into dashboards/ (provisioned by
docker-compose.yml's grafana), and one for the SLOs (slo.json). The platform
panels are the same for every service (crates/common/src/metrics.rs); a
service may add its own business panels below. To add a service, add it to
SERVICES and run this script; `--check` (docker/ci.sh) fails when the
committed files are out of date.
"""
import json
import pathlib
import sys

# Business panels per service: (title, unit, [(PromQL, legend)]).
SERVICES = {
    "product": [
        ("Reservations by outcome", "reqps",
         [('sum by (outcome) (rate(product_reservations_total{service="product"}[1m]))', "{{outcome}}")]),
        ("Expired reservations returned to stock", "short",
         [('sum(increase(product_reservations_expired_total{service="product"}[5m]))', "per 5 min")]),
    ],
    "cart": [
        ("Price refreshes (fresh vs stale)", "reqps",
         [('sum by (outcome) (rate(cart_price_refresh_total{service="cart"}[1m]))', "{{outcome}}")]),
        ("Calls to product by outcome", "reqps",
         [('sum by (outcome) (rate(http_client_requests_total{service="cart"}[1m]))', "{{outcome}}")]),
    ],
    "order": [
        ("Checkouts by outcome", "reqps",
         [('sum by (outcome) (rate(order_checkouts_total{service="order"}[1m]))', "{{outcome}}")]),
        ("Recovered checkouts", "short",
         [('sum by (result) (increase(order_recovered_total{service="order"}[5m]))', "{{result}}")]),
        ("Circuit state per peer (1 = open)", "short",
         [('max by (peer) (http_client_circuit_state{service="order"})', "{{peer}}")]),
    ],
    # The storefront: its pages' errors by route, the calls it makes to the
    # three APIs (per peer), and what people do.
    "web": [
        ("Errors by route (4xx and 5xx)", "reqps",
         [('sum by (route, status) (rate(http_server_requests_total{service="web",status=~"[45].."}[1m]))', "{{status}} {{route}}")]),
        ("Calls to the APIs by peer and outcome", "reqps",
         [('sum by (peer, outcome) (rate(http_client_requests_total{service="web"}[1m]))', "{{peer}} {{outcome}}")]),
        ("p95 latency of calls by peer", "s",
         [('histogram_quantile(0.95, sum by (le, peer) (rate(http_client_request_duration_seconds_bucket{service="web"}[1m])))', "{{peer}}")]),
        ("Retries by peer", "reqps",
         [('sum by (peer) (rate(http_client_retries_total{service="web"}[1m]))', "{{peer}}")]),
        ("Circuit state per peer (1 = open)", "short",
         [('max by (peer) (http_client_circuit_state{service="web"})', "{{peer}}")]),
        ("Checkouts by outcome", "reqps",
         [('sum by (outcome) (rate(web_checkouts_total{service="web"}[1m]))', "{{outcome}}")]),
        ("Sign-ins and sign-outs", "short",
         [('sum by (event) (increase(web_sessions_total{service="web"}[5m]))', "{{event}} per 5 min")]),
    ],
}


def platform_panels(svc):
    sel = f'service="{svc}"'
    return [
        ("Request rate by route", "reqps",
         [(f"sum by (method, route) (rate(http_server_requests_total{{{sel}}}[1m]))", "{{method}} {{route}}")]),
        ("Error ratio (5xx and 4xx)", "percentunit",
         [(f'sum(rate(http_server_requests_total{{{sel},status=~"5.."}}[1m])) / clamp_min(sum(rate(http_server_requests_total{{{sel}}}[1m])), 1e-9)', "5xx"),
          (f'sum(rate(http_server_requests_total{{{sel},status=~"4.."}}[1m])) / clamp_min(sum(rate(http_server_requests_total{{{sel}}}[1m])), 1e-9)', "4xx")]),
        ("Latency percentiles", "s",
         [(f"histogram_quantile({q}, sum by (le) (rate(http_server_request_duration_seconds_bucket{{{sel}}}[1m])))", f"p{int(q * 100)}")
          for q in (0.5, 0.95, 0.99)]),
        ("p99 latency by route", "s",
         [(f"histogram_quantile(0.99, sum by (le, route) (rate(http_server_request_duration_seconds_bucket{{{sel}}}[1m])))", "{{route}}")]),
        ("Database pool", "short",
         [(f"sum by (state) (db_pool_connections{{{sel}}})", "{{state}}"),
          (f"sum(db_pool_max_connections{{{sel}}})", "max")]),
        ("Requests in flight and replicas up", "short",
         [(f"sum(http_server_requests_in_flight{{{sel}}})", "in flight"),
          (f'sum(up{{job="{svc}"}})', "replicas up")]),
    ]


def panel(pid, title, unit, targets, grid=None, kind="timeseries", defaults=None, options=None,
          description=None):
    """A panel; by default a time series in a grid of two columns. A
    default given as None is left out (the budget may fall below 0)."""
    defaults = {k: v for k, v in {"unit": unit, "min": 0, **(defaults or {})}.items() if v is not None}
    out = {
        "id": pid,
        "type": kind,
        "title": title,
    }
    if description:
        out["description"] = description
    out.update({
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": grid or {"h": 8, "w": 12, "x": 12 * ((pid - 1) % 2), "y": 8 * ((pid - 1) // 2)},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
             "datasource": {"type": "prometheus", "uid": "prometheus"}}
            for i, (expr, legend) in enumerate(targets)
        ],
    })
    return out


def dashboard(svc, extra):
    panels = [panel(i + 1, *p) for i, p in enumerate(platform_panels(svc) + extra)]
    return {
        "uid": f"shop-{svc}",
        "title": f"Shop / {svc}",
        "tags": ["shop", svc],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "panels": panels,
    }


# The SLOs of docker/observability/rules/ (docs/slo.md): name (the `slo`
# label of the recorded series) and what a good event is. The objectives
# are not repeated here: the panels read slo:objective:ratio.
SLOS = [
    ("checkout-availability", "Checkout availability", "POST /v1/orders answers non-5xx"),
    ("checkout-latency", "Checkout latency", "POST /v1/orders answers within 250 ms"),
    ("catalog-availability", "Catalog reads", "GET /v1/products and /v1/products/{id} answer non-5xx"),
]

# The windows the alerts read, shortest first (recording.yml).
WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]

# The alerts' burn-rate thresholds (slo-alerts.yml), drawn on the burn-rate
# panels: 1 and 3 open tickets, 6 and 14.4 page.
BURN_THRESHOLDS = [(1, "yellow"), (3, "orange"), (6, "red"), (14.4, "dark-red")]


def slo_dashboard():
    """Per SLO one row: the SLI now against its objective, the error budget
    left of the 30-day period, and the burn rate over every alert window."""
    stat = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "none",
        "textMode": "value_and_name",
        "orientation": "horizontal",
    }
    panels = []
    for row, (slo, name, good) in enumerate(SLOS):
        sel = f'slo="{slo}"'
        y = 8 * row
        pid = len(panels) + 1
        panels.append(panel(
            pid, f"{name}: SLI now", "percentunit",
            [(f"1 - slo:sli_error:ratio_rate5m{{{sel}}}", "last 5 min"),
             (f"1 - slo:sli_error:ratio_rate1h{{{sel}}}", "last hour"),
             (f"slo:objective:ratio{{{sel}}}", "objective")],
            grid={"h": 8, "w": 5, "x": 0, "y": y}, kind="stat", options=stat,
            defaults={"decimals": 2, "max": 1, "color": {"mode": "fixed", "fixedColor": "text"}},
            description=f"Share of good events: {good}. No value: no traffic in the window."))
        panels.append(panel(
            pid + 1, f"{name}: error budget left (30 days)", "percentunit",
            [(f"slo:error_budget_remaining:ratio_rate30d{{{sel}}}", "30 days {{namespace}}")],
            grid={"h": 8, "w": 5, "x": 5, "y": y}, kind="stat", options=stat,
            defaults={"decimals": 1, "min": None, "thresholds": {"mode": "absolute", "steps": [
                {"color": "red", "value": None}, {"color": "orange", "value": 0},
                {"color": "green", "value": 0.25}]}},
            description="1 - error ratio over 30 days / (1 - objective): 100 % untouched, 0 spent, "
                        "below 0 overspent. Over what Prometheus keeps, if less than 30 days "
                        "(compose keeps 3)."))
        panels.append(panel(
            pid + 2, f"{name}: burn rate per window", "short",
            [(f"slo:sli_error:ratio_rate{w}{{{sel}}} / on (slo) group_left () "
              f"(1 - slo:objective:ratio{{{sel}}})", w) for w in WINDOWS],
            grid={"h": 8, "w": 14, "x": 10, "y": y},
            defaults={"custom": {"thresholdsStyle": {"mode": "dashed"}},
                      "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}] + [
                          {"color": color, "value": burn} for burn, color in BURN_THRESHOLDS]}},
            description="Error ratio / error budget. 1 spends the budget in exactly 30 days, 14.4 "
                        "in 50 hours. The dashed lines are the alerts' thresholds: a page needs "
                        "1h and 5m above 14.4, or 6h and 30m above 6; a ticket 1d and 2h above 3, "
                        "or 3d and 6h above 1 (docs/slo.md)."))
    return {
        "uid": "shop-slo",
        "title": "Shop / SLOs",
        "tags": ["shop", "slo"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "panels": panels,
    }


def main():
    out = pathlib.Path(__file__).resolve().parent / "dashboards"
    check = "--check" in sys.argv[1:]
    stale = []
    boards = {f"{svc}.json": dashboard(svc, extra) for svc, extra in SERVICES.items()}
    boards["slo.json"] = slo_dashboard()
    for name, board in boards.items():
        path = out / name
        text = json.dumps(board, indent=2) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        sys.exit("out of date (run docker/observability/grafana/dashboards.py): " + ", ".join(stale))


if __name__ == "__main__":
    main()
