#!/usr/bin/env bash
# The Prometheus rules (recording rules and SLO alerts, docs/slo.md),
# checked the way CI checks them (docker/ci.sh runs this script):
#   bash docker/observability/check-rules.sh
# 1. promtool check config: prometheus.yml, with the rule files it loads;
# 2. promtool check rules: every rule file's syntax and PromQL;
# 3. promtool test rules: the unit tests in rules/tests/, each alert
#    firing where it must and silent where it must not, and recorded
#    values (about 20 s);
# 4. what promtool cannot know: each SLI rule reads the window its name
#    says, every SLO has every window, and every alert has its labels
#    (severity page or ticket, slo), its annotations, a runbook section in
#    docs/slo.md that its runbook_url names, and thresholds that are the
#    workbook's four burn-rate pairs on its own SLO's error budget;
# 5. the Kubernetes copy (k8s/components/slo/prometheusrule.yaml) is up to
#    date with the rule files.
# Needs promtool (Debian's `prometheus` package) and python3 with PyYAML.
set -euo pipefail
cd "$(dirname "$0")"

fail() { printf 'check-rules.sh: %s\n' "$*" >&2; exit 1; }
command -v promtool >/dev/null || fail "promtool not found (apt-get install prometheus)"
python3 -c 'import yaml' 2>/dev/null || fail "python3 has no PyYAML (python3 -m pip install pyyaml)"

# rule_files in prometheus.yml is relative to it: this folder's rules/.
promtool check config prometheus.yml
promtool check rules rules/*.yml
# Each test file names its rule files relative to itself (../*.yml).
promtool test rules rules/tests/*.yml

python3 - <<'PY' || fail "the rules break a convention above (see docs/slo.md)"
import pathlib, re, sys
import yaml

WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
# The workbook's pairs (slo-alerts.yml): severity -> {(burn, long, short)}.
PAIRS = {
    "page": {(14.4, "1h", "5m"), (6.0, "6h", "30m")},
    "ticket": {(3.0, "1d", "2h"), (1.0, "3d", "6h")},
}
docs = pathlib.Path("../../docs/slo.md").read_text()
problems = []
records, alerts = [], []
for path in sorted(pathlib.Path("rules").glob("*.yml")):
    for group in yaml.safe_load(path.read_text())["groups"]:
        for rule in group["rules"]:
            (records if "record" in rule else alerts).append((path.name, rule))

objectives = {}
for file, rule in records:
    if rule["record"] == "slo:objective:ratio":
        m = re.fullmatch(r"vector\(([0-9.]+)\)", rule["expr"].strip())
        objectives[rule["labels"]["slo"]] = float(m.group(1))
if not objectives:
    problems.append("no slo:objective:ratio records")

# Each slo:*:rate<W> / ratio_rate<W> rule reads [W], or the rate<W> series.
present = set()
for file, rule in records:
    m = re.fullmatch(r"slo:\w+:(?:ratio_)?rate(\w+)", rule["record"])
    if not m:
        continue
    window, slo = m.group(1), rule.get("labels", {}).get("slo", "")
    present.add((slo, rule["record"]))
    read = set(re.findall(r"\[(\w+)\]", rule["expr"])) | set(re.findall(r"slo:\w+:(?:ratio_)?rate(\w+)", rule["expr"]))
    if read != {window}:
        problems.append(f"{file}: {rule['record']} {slo}: reads {sorted(read)}, not {window}")
for slo in objectives:
    for w in WINDOWS:
        for kind in ("bad", "total"):
            if (slo, f"slo:sli_{kind}:rate{w}") not in present:
                problems.append(f"{slo}: no slo:sli_{kind}:rate{w}")
for w in WINDOWS:
    if ("", f"slo:sli_error:ratio_rate{w}") not in present:
        problems.append(f"no slo:sli_error:ratio_rate{w}")

comparison = re.compile(r'slo:sli_error:ratio_rate(\w+)\{slo="([^"]+)"\} > \(([0-9.]+) \* ([0-9.]+)\)')
for file, alert in alerts:
    name, labels, notes = alert["alert"], alert.get("labels", {}), alert.get("annotations", {})
    where = f"{file}: {name}"
    severity, slo = labels.get("severity"), labels.get("slo")
    if severity not in PAIRS:
        problems.append(f"{where}: severity {severity!r}, not page or ticket")
        continue
    if slo not in objectives:
        problems.append(f"{where}: slo {slo!r} has no objective")
        continue
    for key in ("summary", "description", "runbook_url"):
        if not notes.get(key):
            problems.append(f"{where}: no {key} annotation")
    if notes.get("runbook_url") != f"docs/slo.md#{name.lower()}":
        problems.append(f"{where}: runbook_url {notes.get('runbook_url')!r}, not docs/slo.md#{name.lower()}")
    if not re.search(rf"^#+ {name}$", docs, re.M):
        problems.append(f"{where}: docs/slo.md has no section `### {name}`")
    found = comparison.findall(alert["expr"])
    if len(found) != alert["expr"].count("slo:"):
        problems.append(f"{where}: every series must be compared as `ratio > (burn * budget)`")
    windows = {}
    for window, series_slo, burn, budget in found:
        if series_slo != slo:
            problems.append(f"{where}: reads slo {series_slo}")
        if abs(float(budget) - (1 - objectives[slo])) > 1e-12:
            problems.append(f"{where}: budget {budget}, but {slo}'s objective is {objectives[slo]}")
        windows.setdefault(float(burn), set()).add(window)
    got = {(burn, *sorted(ws, key=WINDOWS.index, reverse=True)) for burn, ws in windows.items()}
    if got != PAIRS[severity]:
        problems.append(f"{where}: burn-rate pairs {sorted(got)}, not the workbook's {sorted(PAIRS[severity])}")

if problems:
    sys.exit("\n".join(problems))
print(f"conventions: {len(objectives)} SLOs, every window; {len(alerts)} alerts with their pairs, labels and runbooks")
PY

python3 ../../k8s/components/slo/generate.py --check
echo "k8s/components/slo/prometheusrule.yaml: up to date"
