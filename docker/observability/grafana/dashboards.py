#!/usr/bin/env python3
"""Writes one Grafana dashboard per service into dashboards/ (provisioned by
docker-compose.yml's grafana). The platform panels are the same for every
service (crates/common/src/metrics.rs); a service may add its own business
panels below. To add a service, add it to SERVICES and run this script;
`--check` (docker/ci.sh) fails when the committed files are out of date.
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


def panel(pid, title, unit, targets):
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * ((pid - 1) % 2), "y": 8 * ((pid - 1) // 2)},
        "fieldConfig": {"defaults": {"unit": unit, "min": 0}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
             "datasource": {"type": "prometheus", "uid": "prometheus"}}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


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


def main():
    out = pathlib.Path(__file__).resolve().parent / "dashboards"
    check = "--check" in sys.argv[1:]
    stale = []
    for svc, extra in SERVICES.items():
        path = out / f"{svc}.json"
        text = json.dumps(dashboard(svc, extra), indent=2) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        sys.exit("out of date (run docker/observability/grafana/dashboards.py): " + ", ".join(stale))


if __name__ == "__main__":
    main()
