#!/usr/bin/env bash
# Checks the monitoring files under k8s/monitoring with Prometheus's own
# tools (promtool, from Debian's prometheus package): the alert rules parse,
# their unit tests pass (featurestore-alerts.test.yaml: each alert fires on
# the series the services record and stays silent on a healthy twin), and
# every query of the Grafana dashboard parses as PromQL (each is checked as
# a recording rule). Which series they name is checked by the
# monitoring_files test.
source "$(dirname "$0")/common.sh"
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || apt_install prometheus
command -v promtool >/dev/null || die "promtool is needed to check the alert rules (Debian package prometheus)"
promtool check rules k8s/monitoring/featurestore-alerts.yaml >/dev/null \
  || die "k8s/monitoring/featurestore-alerts.yaml: rules do not parse"
promtool test rules k8s/monitoring/featurestore-alerts.test.yaml >/dev/null \
  || die "k8s/monitoring/featurestore-alerts.test.yaml: an alert rule test failed (run promtool test rules on it)"
rules="$(mktemp --suffix=.json)"
trap 'rm -f "$rules"' EXIT
python3 - k8s/monitoring/featurestore-dashboard.json "$rules" <<'PY'
import json, re, sys
dashboard = json.load(open(sys.argv[1]))
rules = []
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        name = re.sub(r"[^a-zA-Z0-9_]", "_", panel["title"]).strip("_").lower()
        rules.append({"record": f"dashboard:{name}:{target.get('refId', 'A')}", "expr": target["expr"]})
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
PY
promtool check rules "$rules" >/dev/null \
  || { promtool check rules "$rules"; die "k8s/monitoring/featurestore-dashboard.json: a panel's query is not valid PromQL"; }
echo "monitoring: $(grep -c -- '- alert:' k8s/monitoring/featurestore-alerts.yaml) alert rules parse and pass their unit tests; $(grep -c '"expr"' k8s/monitoring/featurestore-dashboard.json) dashboard queries parse"
