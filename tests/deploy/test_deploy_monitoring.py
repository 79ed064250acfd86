"""deploy/prometheus/alerts.yaml and the Grafana dashboard: every expression
parses as PromQL (promql-parser), and every metric, label and label value it
uses is one the real proxy exposes on /metrics."""

from __future__ import annotations

import json
import re

import promql_parser as promql
import pytest
import yaml

from harness.metrics import METRIC_PREFIX, Family
from harness.processes import REPO

from .deploy_support import ALERTS, GRAFANA, parse_duration

# Labels Prometheus adds to every scraped series (static configs, the
# ServiceMonitor and pod annotations' relabelling).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}
# Series Prometheus makes itself for each target.
PROMETHEUS_SERIES = {"up": Family("up", "gauge")}
# requests_total's `decision` label (README, "Metrics"); `would_deny` needs
# shadow mode, which no shipped config runs.
DECISIONS = {"allow", "deny", "would_deny", "error"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
RATE_FUNCTIONS = {"rate", "irate", "increase"}
# The alerts the issue asks for: (metric, label, a value the matcher must take in).
REQUIRED_ALERT_SELECTORS = [
    ("elasticache_authz_proxy_requests_total", "decision", "deny"),
    ("elasticache_authz_proxy_policy_reloads_total", "result", "failure"),
    ("elasticache_authz_proxy_upstream_requests_total", "status_class", "5xx"),
    ("elasticache_authz_proxy_upstream_requests_total", "status_class", "error"),
    ("elasticache_authz_proxy_upstream_requests_total", "status_class", "timeout"),
    ("elasticache_authz_proxy_audit_write_failures_total", None, None),
]


# ---- PromQL helpers ---------------------------------------------------------------
def nodes(ast, kind) -> list:
    found = []

    def visit(node):
        if isinstance(node, kind):
            found.append(node)

    promql.walk(ast, visit)
    return found


def family_of(name: str, families: dict[str, Family]) -> tuple[Family, str]:
    """The family of a series name, and the histogram suffix it used."""
    if name in families:
        return families[name], ""
    if name in PROMETHEUS_SERIES:
        return PROMETHEUS_SERIES[name], ""
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if name.endswith(suffix) and families.get(base, Family("", "")).type == "histogram":
            return families[base], suffix
    raise AssertionError(f"`{name}` is not a metric the proxy exposes (it has: {sorted(families)})")


def known_values(label: str, family: Family) -> set[str] | None:
    """The values a label can take, where they are known."""
    if label == "decision":
        return DECISIONS
    if label == "code":
        # The README lists every error code the proxy answers with.
        readme = (REPO / "README.md").read_text()
        return set(re.findall(r"`([A-Z][A-Za-z]+)`", readme))
    if label in ("status_class", "result", "reason"):
        # Set to 0 at start for all their values.
        return family.values.get(label, set())
    return None


def output_labels(node) -> set[str] | None:
    """The labels an expression's result keeps; None for all of its series'."""
    if isinstance(node, (promql.VectorSelector, promql.MatrixSelector)):
        return None
    if isinstance(node, promql.AggregateExpr):
        modifier = node.modifier
        if modifier is None:
            return set()
        return set(modifier.labels) if str(modifier.type).lower().endswith("by") else None
    if isinstance(node, promql.Call):
        vectors = [a for a in node.args if not isinstance(a, (promql.NumberLiteral, promql.StringLiteral))]
        labels = output_labels(vectors[-1]) if vectors else set()
        if node.func.name == "histogram_quantile" and labels is not None:
            labels = labels - {"le"}
        return labels
    if isinstance(node, promql.BinaryExpr):
        if isinstance(node.lhs, promql.NumberLiteral):
            return output_labels(node.rhs)
        return output_labels(node.lhs)
    if isinstance(node, (promql.ParenExpr, promql.UnaryExpr)):
        return output_labels(node.expr)
    return set()


def check_expression(expr: str, families: dict[str, Family], where: str) -> tuple[object, set[str]]:
    """Parses `expr` and checks its metrics, labels, values and functions;
    returns the AST and the labels of the series it reads."""
    try:
        ast = promql.parse(expr)
    except ValueError as error:
        pytest.fail(f"{where}: not PromQL: {error}\n{expr}")
    series_labels = set(TARGET_LABELS)
    for selector in nodes(ast, promql.VectorSelector):
        assert selector.name, f"{where}: a selector without a metric name"
        family, suffix = family_of(selector.name, families)
        assert selector.name in PROMETHEUS_SERIES or selector.name.startswith(METRIC_PREFIX)
        if family.type == "histogram":
            assert suffix, f"{where}: histogram `{family.name}` needs _bucket, _sum or _count"
        labels = family.labels | TARGET_LABELS | ({"le"} if suffix == "_bucket" else set())
        series_labels |= labels
        for matcher in selector.matchers.matchers:
            assert matcher.name in labels, f"{where}: `{family.name}` has no label `{matcher.name}`"
            values = known_values(matcher.name, family)
            if values is None:
                continue
            op = str(matcher.op).rsplit(".", 1)[-1]
            wanted = [matcher.value] if op in ("Equal", "NotEqual") else matcher.value.split("|")
            for value in wanted:
                assert re.fullmatch(r"[\w-]+", value), f"{where}: cannot check the regex `{matcher.value}`"
                assert value in values, \
                    f"{where}: `{family.name}{{{matcher.name}=\"{value}\"}}` never exists ({sorted(values)})"
    for call in nodes(ast, promql.Call):
        if call.func.name in RATE_FUNCTIONS:
            (arg,) = [a for a in call.args if isinstance(a, promql.MatrixSelector)]
            family, suffix = family_of(arg.vector_selector.name, families)
            assert family.type == "counter" or suffix, f"{where}: {call.func.name}() of {family.type} `{family.name}`"
        if call.func.name == "histogram_quantile":
            inner = output_labels(call.args[1])
            assert inner is None or "le" in inner, f"{where}: histogram_quantile needs `le` kept"
    for agg in nodes(ast, promql.AggregateExpr):
        if agg.modifier is not None:
            for label in agg.modifier.labels:
                assert label in series_labels, f"{where}: aggregation by unknown label `{label}`"
    return ast, series_labels


def check_template_labels(text: str, pattern: str, ast, series_labels: set[str], where: str) -> None:
    available = output_labels(ast)
    for label in re.findall(pattern, text):
        if available is None:
            assert label in series_labels, f"{where}: `{label}` is on none of the series"
        else:
            assert label in available, f"{where}: `{label}` is aggregated away (result keeps {sorted(available)})"


# ---- the alerting rules ------------------------------------------------------------
def alert_rules() -> list[dict]:
    doc = yaml.safe_load(ALERTS.read_text())
    assert set(doc) == {"groups"}, "a plain Prometheus rule file has only `groups`"
    rules = []
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"} and group["name"]
        rules += group["rules"]
    return rules


def test_alert_rules_are_well_formed():
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "alert names repeat"
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        if "for" in rule:
            parse_duration(rule["for"])
        assert rule["labels"]["severity"] in ("info", "warning", "critical")
        assert rule["annotations"].get("summary"), f"{rule['alert']}: no summary"


def test_alert_expressions_use_what_the_proxy_exposes(exposed_metrics):
    for rule in alert_rules():
        where = f"alerts.yaml: {rule['alert']}"
        ast, series_labels = check_expression(rule["expr"], exposed_metrics, where)
        for text in rule.get("annotations", {}).values():
            check_template_labels(text, r"\$labels\.(\w+)", ast, series_labels, where)


def test_the_required_alerts_exist():
    selectors = [s for rule in alert_rules() for s in nodes(promql.parse(rule["expr"]), promql.VectorSelector)]
    for metric, label, value in REQUIRED_ALERT_SELECTORS:
        found = False
        for s in selectors:
            if s.name != metric:
                continue
            if label is None:
                found = True
            for m in s.matchers.matchers:
                if m.name == label and value in m.value.split("|"):
                    found = True
        assert found, f"no alert on {metric}" + (f"{{{label}=\"{value}\"}}" if label else "")


# ---- the Grafana dashboard -----------------------------------------------------------
def dashboards() -> list:
    files = sorted(GRAFANA.glob("*.json"))
    assert files, "no dashboard in deploy/grafana/"
    return files


GRAFANA_RANGES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def grafana_expr(expr: str, variables: set[str]) -> str:
    for name, value in GRAFANA_RANGES.items():
        expr = expr.replace(name, value)
    for used in re.findall(r"\$\{?(\w+)", expr):
        assert used in variables, f"variable `${used}` is not defined"
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


@pytest.mark.parametrize("path", dashboards(), ids=lambda p: p.name)
def test_dashboard_is_well_formed(path):
    dashboard = json.loads(path.read_text())
    assert {"title", "uid", "panels", "schemaVersion", "templating"} <= set(dashboard)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables.get("datasource", {}).get("type") == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


@pytest.mark.parametrize("path", dashboards(), ids=lambda p: p.name)
def test_dashboard_queries_use_what_the_proxy_exposes(path, exposed_metrics):
    dashboard = json.loads(path.read_text())
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            where = f"{path.name}: {panel['title']}"
            ast, series_labels = check_expression(grafana_expr(target["expr"], variables), exposed_metrics, where)
            check_template_labels(target.get("legendFormat", ""), r"\{\{\s*(\w+)\s*\}\}", ast, series_labels, where)
            used |= {s.name for s in nodes(ast, promql.VectorSelector)}
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert match, f"variable {var['name']}: `{query}`"
        _, labels = check_expression(grafana_expr(match[1], variables), exposed_metrics, f"variable {var['name']}")
        assert match[2] in labels
    # Every metric the proxy exposes is on the dashboard.
    shown = {family_of(name, exposed_metrics)[0].name for name in used if name not in PROMETHEUS_SERIES}
    missing = {name for name in exposed_metrics if name.startswith(METRIC_PREFIX)} - shown
    assert not missing, f"{path.name} shows nothing of {sorted(missing)}"
