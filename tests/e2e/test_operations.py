"""Operating the proxy: the admin listener (metrics, probes, reload), the audit
log, hot reload, shadow mode, graceful shutdown and the connection limits."""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import botocore.exceptions
import pytest

from conftest import serve_once, write_config
from fake_upstream import authorize_ingress_xml
from harness.metrics import METRIC_PREFIX
from harness.processes import REPO, free_port, wait_for
from support import (
    ALLOWED_INGRESS,
    API_VERSION,
    PROXY_SECRET_KEY,
    TEST_POLICY,
    RawResponse,
    assert_api_error,
    capture_signatures,
    form_encode,
    ingress_pairs,
    json_lines,
    raw_authorization,
    send_raw,
    sign_raw,
)

INGRESS = "AuthorizeCacheSecurityGroupIngress"
DESCRIBE = "DescribeCacheClusters"
DESCRIBE_BODY = form_encode([("Action", DESCRIBE), ("Version", API_VERSION)])
INGRESS_BODY = form_encode(ingress_pairs())
LEGACY_BODY = form_encode(ingress_pairs(CacheSecurityGroupName="prod-legacy"))
NO_ACTION_BODY = form_encode([(k, v) for k, v in ingress_pairs() if k != "Action"])

# TEST_POLICY with Describe* moved to eu-west-1 only: us-east-1 describes become denials.
POLICY_V2 = TEST_POLICY.replace(
    """  - id: describe-anything-us-east-1
    effect: allow
    actions: ["Describe*"]
    regions: [us-east-1]
""",
    """  - id: describe-eu-only
    effect: allow
    actions: ["Describe*"]
    regions: [eu-west-1]
""",
)
assert POLICY_V2 != TEST_POLICY

# Every key of an audit line (all always present, null when unknown).
AUDIT_KEYS = {
    "time",
    "request_id",
    "upstream_request_id",
    "caller",
    "auth",
    "source",
    "action",
    "region",
    "owner_id",
    "cache_security_group",
    "ec2_security_group",
    "shortened",
    "decision",
    "mode",
    "rules",
    "explanation",
    "params",
    "error_code",
    "upstream_status",
    "duration_ms",
    "policy_revision",
}
# The metrics of the spec, without the prefix (the Rust tests read the same file).
SPEC_METRICS = (REPO / "tests" / "data" / "metrics.txt").read_text().split()
assert SPEC_METRICS, "tests/data/metrics.txt is empty"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

OPS_KEY, OPS_SECRET = "AKIDOPSDEPLOYER00001", "ops/Deployer+Secret/0123456789abcdefghi"
NEW_KEY, NEW_SECRET = "AKIDNEWCOMER00000001", "new/Comer+Secret/0123456789abcdefghijk"
CALLERS = f"""\
callers:
  - name: ops-deployer
    access_key_id: {OPS_KEY}
    secret_access_key: "{OPS_SECRET}"
"""


# ---- helpers ---------------------------------------------------------------------
def revision(text: str) -> str:
    """The policy revision of a policy file's text: sha256 prefix of its bytes."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def replace_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Swaps a file's content in one step, as config management does, so a
    watcher never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def describe(proxy) -> RawResponse:
    return send_raw(proxy.port, body=DESCRIBE_BODY)


def series_of(metrics, name: str, zeros: bool = False) -> dict[frozenset, float]:
    """The series of a metric, keyed by their label set; series at 0 (the
    proxy may expose every known label value from the start) only with
    zeros=True."""
    return {frozenset(s.labels.items()): s.value for s in metrics.series(name) if zeros or s.value != 0}


def labels(**values: str) -> frozenset:
    return frozenset(values.items())


def request_labels(action: str, decision: str, rule: str, caller: str = "local-test", mode: str = "enforce"):
    """The label set of one requests_total series."""
    return labels(action=action, decision=decision, rule=rule, caller=caller, mode=mode)


def requests_counted(metrics, *args, **kwargs) -> float | None:
    """requests_total for exactly request_labels(*args, **kwargs)."""
    return metrics.get("requests_total", **dict(request_labels(*args, **kwargs)))


def audit_line(proxy, request_id: str) -> dict:
    [line] = [r for r in proxy.audit_records() if r.get("request_id") == request_id]
    return line


def assert_connection_refused(port: int, proc, timeout: float = 3.0) -> None:
    """A new connection to `port` is refused while the process still runs
    (draining), within `timeout`."""

    def refused():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False

    wait_for(refused, timeout, f"127.0.0.1:{port} to refuse connections")
    assert proc.poll() is None, "the proxy exited before the in-flight request finished"


class Background:
    """Runs a function in a thread and keeps its result or exception."""

    def __init__(self, fn, *args, **kwargs):
        self.result = None
        self.error: BaseException | None = None

        def run():
            try:
                self.result = fn(*args, **kwargs)
            except BaseException as err:  # noqa: BLE001 - reported by join()
                self.error = err

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 30, allow_error: bool = False):
        """Waits for the thread; its exception is raised here unless allowed."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the background request did not finish within {timeout}s"
        if self.error is not None and not allow_error:
            raise self.error
        return self

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()


def slow_ingress(upstream, delay: float) -> None:
    """The upstream answers AuthorizeCacheSecurityGroupIngress after `delay` s."""
    upstream.override(INGRESS, 200, authorize_ingress_xml(ALLOWED_INGRESS, "us-east-1", "slow-req-1"), delay=delay)


# ---- metrics ---------------------------------------------------------------------
def test_metrics_count_allowed_denied_and_malformed_requests(start_proxy, upstream):
    proxy = start_proxy(admin=True)
    before = proxy.metrics()
    assert series_of(before, "requests_total") == {}
    assert series_of(before, "policy_info", zeros=True) == {labels(revision=revision(TEST_POLICY)): 1}

    assert describe(proxy).status == 200
    assert_api_error(send_raw(proxy.port, body=LEGACY_BODY), 400, "InvalidParameterCombination")
    assert_api_error(send_raw(proxy.port, body=NO_ACTION_BODY), 400, "MissingAction")

    m = proxy.metrics()
    assert series_of(m, "requests_total") == {
        request_labels(DESCRIBE, "allow", "describe-anything-us-east-1"): 1,
        request_labels(INGRESS, "deny", "no-legacy-group"): 1,
        # The request is rejected while parsed, before anyone is authenticated.
        request_labels("unknown", "error", "none", caller="unknown"): 1,
    }
    assert series_of(m, "rejections_total") == {
        labels(code="InvalidParameterCombination"): 1,
        labels(code="MissingAction"): 1,
    }
    assert series_of(m, "upstream_requests_total") == {labels(status_class="2xx"): 1}
    assert m.get("in_flight_requests") == 0
    assert m.get("request_duration_seconds_count") == 3
    assert m.get("request_duration_seconds_bucket", le="+Inf") == 3
    assert m.get("upstream_duration_seconds_count") == 1
    assert m.get("upstream_duration_seconds_bucket", le="+Inf") == 1
    assert m.get("audit_write_failures_total") == 0
    types = {name[len(METRIC_PREFIX) :]: kind for name, kind in m.types.items() if name.startswith(METRIC_PREFIX)}
    assert types["requests_total"] == "counter"
    assert types["rejections_total"] == "counter"
    assert types["upstream_requests_total"] == "counter"
    assert types["request_duration_seconds"] == "histogram"
    assert types["upstream_duration_seconds"] == "histogram"
    assert types["in_flight_requests"] == "gauge"
    assert types["policy_info"] == "gauge"
    # No group name, owner id or other request text becomes a label value.
    for sample in m.samples:
        for value in sample.labels.values():
            assert value not in ("prod-legacy", "prod-web", "app-frontend", "123456781234"), sample


def test_a_denial_no_rule_decided_counts_rule_none(start_proxy, upstream):
    proxy = start_proxy(admin=True)
    body = form_encode([("Action", "DeleteCacheCluster"), ("Version", API_VERSION), ("CacheClusterId", "c1")])
    assert_api_error(send_raw(proxy.port, body=body), 400, "InvalidParameterCombination")
    assert series_of(proxy.metrics(), "requests_total") == {request_labels("DeleteCacheCluster", "deny", "none"): 1}


def test_upstream_status_classes(start_proxy, upstream):
    proxy = start_proxy(admin=True, timeout="500ms")
    upstream.override(INGRESS, 404, "<ErrorResponse/>")
    upstream.override(DESCRIBE, 200, "<late/>", delay=3)
    assert send_raw(proxy.port, body=INGRESS_BODY).status == 404
    assert_api_error(describe(proxy), 503, "ServiceUnavailable", error_type="Receiver")
    assert series_of(proxy.metrics(), "upstream_requests_total") == {
        labels(status_class="4xx"): 1,
        labels(status_class="timeout"): 1,
    }

    down = start_proxy(admin=True, endpoint=f"http://127.0.0.1:{free_port()}")
    assert_api_error(describe(down), 503, "ServiceUnavailable", error_type="Receiver")
    assert series_of(down.metrics(), "upstream_requests_total") == {labels(status_class="error"): 1}


def test_signature_failures_are_counted_by_reason(start_proxy, make_client, upstream):
    proxy = start_proxy(admin=True, callers=CALLERS)
    unknown = make_client(proxy, access_key="AKIDNOBODY0000000001", secret_key=OPS_SECRET)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        unknown.describe_cache_clusters()
    assert raised.value.response["Error"]["Code"] == "InvalidClientTokenId"
    wrong = make_client(proxy, access_key=OPS_KEY, secret_key="not/the+right/secret/0123456789abcdef")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        wrong.describe_cache_clusters()
    assert raised.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert_api_error(send_raw(proxy.port, body=DESCRIBE_BODY, authorization=None), 403, "MissingAuthenticationToken")
    garbage = send_raw(proxy.port, body=DESCRIBE_BODY, authorization="AWS4-HMAC-SHA256 garbage")
    assert_api_error(garbage, 400, "IncompleteSignature")
    assert upstream.requests == []

    m = proxy.metrics()
    assert series_of(m, "signature_failures_total") == {
        labels(reason="unknown_key"): 1,
        labels(reason="mismatch"): 1,
        labels(reason="missing"): 1,
        labels(reason="malformed"): 1,
    }
    assert series_of(m, "rejections_total") == {
        labels(code="InvalidClientTokenId"): 1,
        labels(code="SignatureDoesNotMatch"): 1,
        labels(code="MissingAuthenticationToken"): 1,
        labels(code="IncompleteSignature"): 1,
    }
    assert m.total("requests_total", decision="error", caller="unknown") == 4
    assert m.total("requests_total") == 4
    assert series_of(m, "upstream_requests_total") == {}

    # A good signature is no failure.
    make_client(proxy, access_key=OPS_KEY, secret_key=OPS_SECRET).describe_cache_clusters()
    m = proxy.metrics()
    assert m.total("signature_failures_total") == 4
    assert requests_counted(m, DESCRIBE, "allow", "describe-anything-us-east-1", caller="ops-deployer") == 1


def test_connections_open_counts_data_connections(start_proxy, upstream):
    proxy = start_proxy(admin=True)
    # The start-up check's own connection may still be closing.
    wait_for(lambda: proxy.metrics().get("connections_open") == 0, what="connections_open == 0")
    socks = [socket.create_connection(("127.0.0.1", proxy.port)) for _ in range(2)]
    try:
        wait_for(lambda: proxy.metrics().get("connections_open") == 2, what="connections_open == 2")
    finally:
        for sock in socks:
            sock.close()
    wait_for(lambda: proxy.metrics().get("connections_open") == 0, what="connections_open back to 0")


def test_every_exposed_metric_is_documented_in_the_readme(start_proxy, upstream):
    proxy = start_proxy(admin=True)
    describe(proxy)
    send_raw(proxy.port, body=LEGACY_BODY)
    send_raw(proxy.port, body=NO_ACTION_BODY)
    send_raw(proxy.port, body=DESCRIBE_BODY, authorization=None)
    exposed = {name for name in proxy.metrics().family_names() if name.startswith(METRIC_PREFIX)}
    assert exposed, "the proxy exposes no metric with the prefix"
    readme = (REPO / "README.md").read_text()
    names = sorted(exposed | {METRIC_PREFIX + name for name in SPEC_METRICS})
    undocumented = [name for name in names if name not in readme]
    assert undocumented == [], f"metrics missing from README.md: {undocumented}"


# ---- the admin listener -------------------------------------------------------------
def test_health_and_readiness_probes(start_proxy, upstream):
    proxy = start_proxy(admin=True)
    healthz = proxy.admin("/healthz")
    assert (healthz.status, healthz.text) == (200, "ok\n")
    readyz = proxy.admin("/readyz")
    assert (readyz.status, readyz.text) == (200, "ready\n")
    assert proxy.admin("/nope").status == 404
    assert proxy.admin("/metrics/extra").status == 404
    assert proxy.admin("/healthz", method="POST").status == 405
    assert proxy.admin("/reload").status == 405
    # The admin endpoints are not on the data port.
    assert send_raw(proxy.port, "GET", "/metrics").status != 200


def test_no_admin_listener_without_admin_listen(start_proxy, upstream):
    proxy = start_proxy()
    # The port takes connections once bound, a moment before the line is
    # written: wait for it.
    wait_for(
        lambda: [r for r in proxy.log_records() if r.get("msg") == "listening"],
        what="the proxy's `listening` log line",
    )
    assert describe(proxy).status == 200


# ---- the audit log -----------------------------------------------------------------
def _check_audit_shape(line: dict, policy_text: str) -> None:
    missing = AUDIT_KEYS - set(line)
    assert not missing, f"audit line lacks {sorted(missing)}: {line}"
    assert TIME_RE.match(line["time"]), line["time"]
    logged_at = datetime.datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert abs(datetime.datetime.now(datetime.timezone.utc) - logged_at) < datetime.timedelta(minutes=2)
    assert isinstance(line["request_id"], str) and line["request_id"]
    assert re.match(r"^127\.0\.0\.1:\d+$", line["source"]), line["source"]
    assert isinstance(line["duration_ms"], (int, float)) and not isinstance(line["duration_ms"], bool)
    assert line["duration_ms"] >= 0
    assert line["policy_revision"] == revision(policy_text)
    assert isinstance(line["rules"], list)
    assert line["mode"] == "enforce"


def test_audit_lines_one_per_request_with_every_field(start_proxy, make_client, upstream):
    proxy = start_proxy(admin=True, callers=CALLERS)
    signatures: list[str] = []
    token = "FQoGZXIvYXdzEXAMPLE+audit/session/token/never/logged=="
    client = make_client(proxy, access_key=OPS_KEY, secret_key=OPS_SECRET, session_token=token)
    capture_signatures(client, signatures)
    # 1. allowed
    allowed = client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    # 2. denied by the policy
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, "CacheSecurityGroupName": "prod-legacy"})
    denied_id = raised.value.response["ResponseMetadata"]["RequestId"]
    # 3. malformed, but signed by a caller
    authorization, amz_date = sign_raw(proxy.port, NO_ACTION_BODY, OPS_KEY, OPS_SECRET)
    signatures.append(authorization.rsplit("Signature=", 1)[1])
    malformed = send_raw(proxy.port, body=NO_ACTION_BODY, authorization=authorization, amz_date=amz_date)
    malformed_id = assert_api_error(malformed, 400, "MissingAction").request_id
    # 4. unauthenticated
    stranger = make_client(proxy, access_key="AKIDNOBODY0000000001", secret_key=OPS_SECRET)
    capture_signatures(stranger, signatures)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        stranger.describe_cache_clusters()
    unauthenticated_id = raised.value.response["ResponseMetadata"]["RequestId"]
    assert len(upstream.requests) == 1

    # Each line is written before its answer, so all four are there now.
    text = proxy.audit_text()
    assert text.endswith("\n")
    raw_lines = text.splitlines()
    assert len(raw_lines) == 4, text
    lines = proxy.audit_records()
    assert len(lines) == 4, f"not one JSON object per line: {text}"
    for line in lines:
        _check_audit_shape(line, TEST_POLICY)
    assert len({line["request_id"] for line in lines}) == 4
    first, second, third, fourth = lines

    assert allowed["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert {k: first[k] for k in AUDIT_KEYS - {"time", "request_id", "source", "duration_ms"}} == {
        "caller": "ops-deployer",
        "auth": "sigv4",
        "action": INGRESS,
        "region": "us-east-1",
        "owner_id": "123456781234",
        "cache_security_group": "prod-web",
        "ec2_security_group": "app-frontend",
        "decision": "allow",
        "mode": "enforce",
        "rules": ["prod-app-ingress"],
        "error_code": None,
        "upstream_status": 200,
        # What boto3 got back (the upstream's id), beside the proxy's own.
        "upstream_request_id": allowed["ResponseMetadata"]["RequestId"],
        "policy_revision": revision(TEST_POLICY),
        "shortened": None,
        "explanation": None,
        "params": None,
    }
    assert second["request_id"] == denied_id
    assert {k: second[k] for k in ("caller", "auth", "action", "cache_security_group", "decision", "rules")} == {
        "caller": "ops-deployer",
        "auth": "sigv4",
        "action": INGRESS,
        "cache_security_group": "prod-legacy",
        "decision": "deny",
        "rules": ["no-legacy-group"],
    }
    assert (second["error_code"], second["upstream_status"], second["upstream_request_id"]) == (
        "InvalidParameterCombination",
        None,
        None,
    )
    assert third["request_id"] == malformed_id
    # Parsing comes before authentication: a malformed request has no caller.
    assert {k: third[k] for k in ("caller", "action", "decision", "rules", "error_code", "upstream_status")} == {
        "caller": None,
        "action": None,
        "decision": "error",
        "rules": [],
        "error_code": "MissingAction",
        "upstream_status": None,
    }
    assert fourth["request_id"] == unauthenticated_id
    assert {k: fourth[k] for k in ("caller", "decision", "rules", "error_code", "upstream_status")} == {
        "caller": None,
        "decision": "error",
        "rules": [],
        "error_code": "InvalidClientTokenId",
        "upstream_status": None,
    }

    # No secrets, signatures or session tokens in either log.
    assert len(signatures) == 4
    [forwarded] = upstream.requests
    upstream_signature = forwarded.header("Authorization").rsplit("Signature=", 1)[1]
    output = text + proxy.stderr()
    for secret in [OPS_SECRET, PROXY_SECRET_KEY, token, upstream_signature, *signatures]:
        assert secret not in output
    # Request lines are no longer on stderr.
    assert not [r for r in proxy.log_records() if r.get("msg") == "request" or "decision" in r]


@pytest.mark.parametrize(
    "send, status, code",
    [
        (lambda port: send_raw(port, body=INGRESS_BODY, authorization=None), 400, "MissingParameter"),
        (lambda port: send_raw(port, "PUT", body=INGRESS_BODY), 405, "MethodNotAllowed"),
        (lambda port: send_raw(port, "GET", "/?" + NO_ACTION_BODY), 400, "MissingAction"),
        (lambda port: send_raw(port, body=INGRESS_BODY.replace("prod-web", "prod%zzweb")), 400, "MalformedQueryString"),
        (
            lambda port: send_raw(port, body=form_encode(ingress_pairs(CacheSecurityGroupName="prod-" + "a" * 66000))),
            413,
            "RequestEntityTooLarge",
        ),
    ],
    ids=["no-authorization", "put", "get-no-action", "bad-escape", "too-large"],
)
def test_every_rejection_has_one_audit_line(proxy, upstream, send, status, code):
    resp = send(proxy.port)
    request_id = assert_api_error(resp, status, code).request_id
    [line] = proxy.audit_records()
    _check_audit_shape(line, TEST_POLICY)
    assert (line["request_id"], line["decision"], line["error_code"], line["upstream_status"]) == (
        request_id,
        "error",
        code,
        None,
    )
    assert upstream.requests == []


def test_the_audit_line_has_the_upstreams_request_id(start_proxy, make_client, upstream):
    proxy = start_proxy()
    client = make_client(proxy)
    known = "5e1f2c3d-0a9b-4c8d-9e7f-6a5b4c3d2e1f"
    body = authorize_ingress_xml(dict(ingress_pairs()), "us-east-1", known)
    upstream.override(INGRESS, 200, body, headers=[("x-amzn-RequestId", known)])
    answer = client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    # The caller sees the upstream's id (what CloudTrail shows), not the proxy's.
    assert answer["ResponseMetadata"]["RequestId"] == known
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == known
    # An upstream error is passed back with the upstream's id too.
    upstream.override(INGRESS, 400, b"<ErrorResponse/>", headers=[("x-amzn-RequestId", "upstream-error-1")])
    refused = send_raw(proxy.port, body=INGRESS_BODY)
    assert (refused.status, refused.header("x-amzn-RequestId")) == (400, "upstream-error-1")
    # The upstream's header is input: cut to 128 bytes, and only visible ASCII.
    upstream.override(INGRESS, 200, body, headers=[("x-amzn-RequestId", "r" * 300)])
    send_raw(proxy.port, body=INGRESS_BODY)
    upstream.override(INGRESS, 200, body, headers=[("x-amzn-RequestId", 'forged" "decision":"allow')])
    send_raw(proxy.port, body=INGRESS_BODY)
    lines = proxy.audit_records()
    assert [(line["upstream_status"], line["upstream_request_id"]) for line in lines] == [
        (200, known),
        (400, "upstream-error-1"),
        (200, "r" * 128),
        (200, None),
    ]
    assert len({line["request_id"] for line in lines} | {known}) == 5, "the proxy's own ids are its own"


def test_audit_log_to_a_file_is_reopened_on_sighup(start_proxy, upstream):
    proxy = start_proxy(audit_log="audit.log", watch_interval="0s")
    assert proxy.audit_path == proxy.workdir / "audit.log"
    assert describe(proxy).status == 200
    assert len(proxy.audit_records()) == 1
    assert proxy.stdout_path.read_text() == "", "audit lines went to stdout too"
    # Rotate: move the file away, SIGHUP, and new lines go to a new file.
    rotated = proxy.workdir / "audit.log.1"
    os.rename(proxy.audit_path, rotated)
    proxy.signal(signal.SIGHUP)
    sent = 1

    def reopened():
        nonlocal sent
        assert describe(proxy).status == 200
        sent += 1
        return proxy.audit_path.exists() and proxy.audit_records()

    wait_for(reopened, what="a new audit.log after SIGHUP", interval=0.1)
    both = json_lines(rotated.read_text()) + proxy.audit_records()
    assert len(both) == sent, "a request has no audit line, or more than one"
    assert proxy.audit_records()[-1]["decision"] == "allow"


# ---- reload ---------------------------------------------------------------------------
def _stream_boto3(make_client, proxy, stop: threading.Event, log: list):
    client = make_client(proxy)
    while not stop.is_set():
        started = time.monotonic()
        try:
            client.describe_cache_clusters()
            outcome = "allow"
        except botocore.exceptions.ClientError as err:
            meta = err.response["ResponseMetadata"]
            code = err.response["Error"]["Code"]
            denied = (meta["HTTPStatusCode"], code) == (400, "InvalidParameterCombination")
            outcome = "deny" if denied else f"{meta['HTTPStatusCode']} {code}"
        except Exception as err:  # noqa: BLE001 - a dropped request is the failure we look for
            outcome = f"exception {err!r}"
        log.append((started, time.monotonic(), outcome))


def _stream_raw(proxy, stop: threading.Event, log: list):
    while not stop.is_set():
        started = time.monotonic()
        try:
            resp = describe(proxy)
            if resp.status == 200:
                outcome = "allow"
            elif resp.status == 400 and b"<Code>InvalidParameterCombination</Code>" in resp.body:
                outcome = "deny"
            else:
                outcome = f"{resp.status} {resp.body[:300]!r}"
        except Exception as err:  # noqa: BLE001
            outcome = f"exception {err!r}"
        log.append((started, time.monotonic(), outcome))


def test_reload_by_post_swaps_the_policy_under_a_stream_of_requests(start_proxy, make_client, upstream):
    proxy = start_proxy(admin=True, watch_interval="0s")
    old, new = revision(TEST_POLICY), revision(POLICY_V2)
    reloads_before = proxy.metrics().value("policy_reloads_total", result="success")

    stop = threading.Event()
    logs: list[list] = [[], []]
    threads = [
        threading.Thread(target=_stream_boto3, args=(make_client, proxy, stop, logs[0]), daemon=True),
        threading.Thread(target=_stream_raw, args=(proxy, stop, logs[1]), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(len(log) >= 5 for log in logs), 15, "requests before the reload")
        replace_file(proxy.policy_path, POLICY_V2)
        reload_started = time.monotonic()
        answer = proxy.reload()
        reloaded_at = time.monotonic()
        assert answer.status == 200, answer.text
        assert answer.json() == {"result": "reloaded", "policy_revision": new}

        def after_reload(log):
            return sum(1 for started, _, _ in log if started > reloaded_at)

        wait_for(lambda: all(after_reload(log) >= 5 for log in logs), 15, "requests after the reload")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
    everything = logs[0] + logs[1]
    failures = [entry for entry in everything if entry[2] not in ("allow", "deny")]
    assert failures == [], f"requests failed across the reload: {failures[:5]}"
    before = [outcome for started, ended, outcome in everything if ended < reload_started]
    after = [outcome for started, ended, outcome in everything if started > reloaded_at]
    assert before and set(before) == {"allow"}
    assert after and set(after) == {"deny"}

    m = proxy.metrics()
    assert m.value("policy_reloads_total", result="success") == reloads_before + 1
    assert m.value("policy_reloads_total", result="failure") == 0
    assert series_of(m, "policy_info", zeros=True) == {labels(revision=new): 1}
    # Every request has its line, on the policy revision that decided it.
    lines = proxy.audit_records()
    assert len(lines) == len(everything)
    assert {(line["decision"], line["policy_revision"]) for line in lines} == {("allow", old), ("deny", new)}
    assert all(line["rules"] == ["describe-anything-us-east-1"] for line in lines if line["decision"] == "allow")
    assert not [r for r in proxy.log_records() if r.get("level") == "error"]


def test_reload_by_sighup(start_proxy, upstream):
    proxy = start_proxy(admin=True, watch_interval="0s")
    assert describe(proxy).status == 200
    replace_file(proxy.policy_path, POLICY_V2)
    proxy.signal(signal.SIGHUP)
    wait_for(lambda: describe(proxy).status == 400, what="the SIGHUP reload to deny describes")
    assert_api_error(describe(proxy), 400, "InvalidParameterCombination")
    m = proxy.metrics()
    assert series_of(m, "policy_info", zeros=True) == {labels(revision=revision(POLICY_V2)): 1}
    assert m.value("policy_reloads_total", result="failure") == 0
    assert proxy.proc.poll() is None


def test_reload_by_the_file_watcher(start_proxy, upstream):
    proxy = start_proxy(admin=True, watch_interval="200ms")
    assert describe(proxy).status == 200
    replace_file(proxy.policy_path, POLICY_V2)
    wait_for(lambda: describe(proxy).status == 400, what="the watcher to pick up the new policy")
    assert series_of(proxy.metrics(), "policy_info", zeros=True) == {labels(revision=revision(POLICY_V2)): 1}
    # And back, by editing the file in place this time.
    proxy.policy_path.write_text(TEST_POLICY)
    wait_for(lambda: describe(proxy).status == 200, what="the watcher to pick up the in-place edit")
    wait_for(
        lambda: series_of(proxy.metrics(), "policy_info", zeros=True) == {labels(revision=revision(TEST_POLICY)): 1},
        what="policy_info back to the first revision",
    )


@pytest.mark.parametrize("trigger", ["post", "sighup", "watcher"])
def test_reload_picks_up_a_new_caller(start_proxy, make_client, upstream, trigger):
    proxy = start_proxy(admin=True, callers=CALLERS, watch_interval="200ms" if trigger == "watcher" else "0s")
    newcomer = make_client(proxy, access_key=NEW_KEY, secret_key=NEW_SECRET)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        newcomer.describe_cache_clusters()
    assert raised.value.response["Error"]["Code"] == "InvalidClientTokenId"
    more = CALLERS + f'  - name: newcomer\n    access_key_id: {NEW_KEY}\n    secret_access_key: "{NEW_SECRET}"\n'
    replace_file(proxy.workdir / "callers.yaml", more, mode=0o600)
    if trigger == "post":
        answer = proxy.reload()
        assert answer.status == 200, answer.text
    elif trigger == "sighup":
        proxy.signal(signal.SIGHUP)

    def known():
        try:
            newcomer.describe_cache_clusters()
            return True
        except botocore.exceptions.ClientError as err:
            assert err.response["Error"]["Code"] == "InvalidClientTokenId"
            return False

    wait_for(known, what="the new caller to be known")
    assert proxy.audit_records()[-1]["caller"] == "newcomer"
    assert proxy.metrics().value("policy_reloads_total", result="success") >= 1
    assert NEW_SECRET not in proxy.stderr() + proxy.audit_text()


def test_in_flight_request_keeps_the_policy_it_started_with(start_proxy, upstream):
    proxy = start_proxy(admin=True, timeout="30s", watch_interval="0s")
    slow_ingress(upstream, delay=2)
    request = Background(send_raw, proxy.port, body=INGRESS_BODY)
    wait_for(lambda: len(upstream.requests) == 1, what="the request to reach the upstream")
    replace_file(proxy.policy_path, POLICY_V2)
    answer = proxy.reload()
    assert answer.status == 200, answer.text
    assert not request.done, "the slow request finished before the reload"
    request.join()
    assert request.result.status == 200
    assert_api_error(describe(proxy), 400, "InvalidParameterCombination")
    first, second = proxy.audit_records()
    assert (first["action"], first["decision"], first["policy_revision"]) == (INGRESS, "allow", revision(TEST_POLICY))
    assert (second["decision"], second["policy_revision"]) == ("deny", revision(POLICY_V2))


# A misspelt action: the policy does not compile.
INVALID_POLICY = TEST_POLICY.replace(
    "actions: [AuthorizeCacheSecurityGroupIngress]", "actions: [AuthoriseCacheSecurityGroupIngress]"
)


def _assert_old_policy_in_force(proxy, failures: int):
    assert describe(proxy).status == 200
    assert_api_error(send_raw(proxy.port, body=LEGACY_BODY), 400, "InvalidParameterCombination")
    m = proxy.metrics()
    assert m.value("policy_reloads_total", result="failure") == failures
    assert m.value("policy_reloads_total", result="success") == 0
    assert series_of(m, "policy_info", zeros=True) == {labels(revision=revision(TEST_POLICY)): 1}
    assert proxy.audit_records()[-1]["policy_revision"] == revision(TEST_POLICY)
    assert proxy.admin("/readyz").status == 200


def test_invalid_policy_by_post_keeps_the_old_one(start_proxy, upstream):
    proxy = start_proxy(admin=True, watch_interval="0s")
    replace_file(proxy.policy_path, INVALID_POLICY)
    answer = proxy.reload()
    assert answer.status == 400, answer.text
    body = answer.json()
    assert body["result"] == "failed"
    assert isinstance(body["errors"], list) and body["errors"]
    assert all(isinstance(e, str) for e in body["errors"])
    assert any("AuthoriseCacheSecurityGroupIngress" in e for e in body["errors"]), body
    _assert_old_policy_in_force(proxy, failures=1)
    logged = [r for r in proxy.log_records() if "AuthoriseCacheSecurityGroupIngress" in str(r)]
    assert logged, proxy.stderr()
    assert logged[0]["level"] in ("warn", "warning", "error"), logged


def test_invalid_policy_by_sighup_keeps_the_old_one(start_proxy, upstream):
    proxy = start_proxy(admin=True, watch_interval="0s")
    replace_file(proxy.policy_path, "rules: [\n  - id: broken\n")
    proxy.signal(signal.SIGHUP)
    wait_for(
        lambda: proxy.metrics().value("policy_reloads_total", result="failure") == 1,
        what="policy_reloads_total{result=failure} to count the SIGHUP",
    )
    _assert_old_policy_in_force(proxy, failures=1)
    logged = [
        r
        for r in proxy.log_records()
        if r.get("level") in ("warn", "warning", "error") and "policy.yaml" in json.dumps(r)
    ]
    assert logged, f"the reload error is not on stderr: {proxy.stderr()}"
    assert proxy.proc.poll() is None


def test_invalid_policy_seen_by_the_watcher_keeps_the_old_one(start_proxy, upstream):
    proxy = start_proxy(admin=True, watch_interval="200ms")
    replace_file(proxy.policy_path, INVALID_POLICY)
    wait_for(
        lambda: proxy.metrics().value("policy_reloads_total", result="failure") >= 1,
        what="the watcher to count a failed reload",
    )
    # The watcher does not retry the same bad content on every tick.
    time.sleep(1)  # five watch intervals
    _assert_old_policy_in_force(proxy, failures=1)


# ---- shadow mode -----------------------------------------------------------------------
def test_global_shadow_mode_forwards_a_denial_as_would_deny(start_proxy, make_client, upstream):
    proxy = start_proxy(admin=True, mode="shadow")
    client = make_client(proxy)
    legacy = {**ALLOWED_INGRESS, "CacheSecurityGroupName": "prod-legacy"}
    result = client.authorize_cache_security_group_ingress(**legacy)
    assert result["CacheSecurityGroup"]["CacheSecurityGroupName"] == "prod-legacy"
    [forwarded] = upstream.requests
    assert forwarded.signature_ok and forwarded.params["CacheSecurityGroupName"] == "prod-legacy"
    [line] = proxy.audit_records()
    assert (line["decision"], line["mode"], line["rules"], line["error_code"], line["upstream_status"]) == (
        "would_deny",
        "shadow",
        ["no-legacy-group"],
        None,
        200,
    )
    # An allowed request is just allowed, in shadow mode too.
    client.describe_cache_clusters()
    assert proxy.audit_records()[-1]["decision"] == "allow"
    # Parse and authentication errors are still rejected.
    assert_api_error(send_raw(proxy.port, body=NO_ACTION_BODY), 400, "MissingAction")
    assert_api_error(send_raw(proxy.port, body=INGRESS_BODY, authorization=None), 400, "MissingParameter")
    assert len(upstream.requests) == 2
    assert [r["decision"] for r in proxy.audit_records()] == ["would_deny", "allow", "error", "error"]
    assert {r["mode"] for r in proxy.audit_records()} == {"shadow"}

    m = proxy.metrics()
    assert requests_counted(m, INGRESS, "would_deny", "no-legacy-group", mode="shadow") == 1
    assert m.total("requests_total", decision="would_deny", mode="shadow") == 1
    assert m.get("rejections_total", code="InvalidParameterCombination") is None
    assert m.get("upstream_requests_total", status_class="2xx") == 2


def test_global_shadow_mode_forwards_a_default_denial(start_proxy, make_client, upstream):
    proxy = start_proxy(admin=True, mode="shadow")
    make_client(proxy).delete_cache_cluster(CacheClusterId="fake-cluster-1")
    [forwarded] = upstream.requests
    assert forwarded.action == "DeleteCacheCluster"
    [line] = proxy.audit_records()
    assert (line["decision"], line["upstream_status"]) == ("would_deny", 200)
    assert requests_counted(proxy.metrics(), "DeleteCacheCluster", "would_deny", "none", mode="shadow") == 1


SHADOW_RULE_POLICY = (
    TEST_POLICY
    + "    mode: shadow\n"  # on no-legacy-group, the last rule
    + """\
  - id: shadow-delete
    effect: allow
    actions: [DeleteCacheCluster]
    mode: shadow
"""
)


def test_shadow_rule_forwards_what_it_would_deny(start_proxy, make_client, upstream):
    proxy = start_proxy(admin=True, policy=SHADOW_RULE_POLICY)
    client = make_client(proxy)
    client.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, "CacheSecurityGroupName": "prod-legacy"})
    [forwarded] = upstream.requests
    assert forwarded.params["CacheSecurityGroupName"] == "prod-legacy"
    [line] = proxy.audit_records()
    assert (line["decision"], line["mode"], line["rules"], line["upstream_status"]) == (
        "would_deny",
        "enforce",
        ["no-legacy-group"],
        200,
    )
    assert requests_counted(proxy.metrics(), INGRESS, "would_deny", "no-legacy-group") == 1


def test_shadow_rule_does_not_change_other_decisions(start_proxy, make_client, upstream):
    proxy = start_proxy(admin=True, policy=SHADOW_RULE_POLICY)
    client = make_client(proxy)
    # Allowed as before.
    client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    # Denied as before (no rule allows this owner), and not forwarded.
    with pytest.raises(client.exceptions.InvalidParameterCombinationException):
        client.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, "EC2SecurityGroupOwnerId": "999999999999"})
    # A shadow allow rule allows nothing.
    with pytest.raises(client.exceptions.InvalidParameterCombinationException):
        client.delete_cache_cluster(CacheClusterId="fake-cluster-1")
    assert [r.params["CacheSecurityGroupName"] for r in upstream.requests] == ["prod-web"]
    lines = proxy.audit_records()
    assert [(r["decision"], r["rules"]) for r in lines[:1]] == [("allow", ["prod-app-ingress"])]
    assert [r["decision"] for r in lines] == ["allow", "deny", "deny"]
    m = proxy.metrics()
    assert m.total("requests_total", decision="would_deny") == 0
    assert m.get("rejections_total", code="InvalidParameterCombination") == 2


# ---- graceful shutdown ----------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_shutdown_lets_an_in_flight_request_finish(start_proxy, upstream, signum):
    proxy = start_proxy(timeout="30s")
    slow_ingress(upstream, delay=2)
    request = Background(send_raw, proxy.port, body=INGRESS_BODY)
    wait_for(lambda: len(upstream.requests) == 1, what="the request to reach the upstream")
    proxy.signal(signum)
    assert_connection_refused(proxy.port, proxy.proc)
    assert not request.done, "the slow request finished before the listener closed"
    request.join()
    assert request.result.status == 200, request.result.body
    assert b"<CacheSecurityGroupName>prod-web</CacheSecurityGroupName>" in request.result.body
    assert proxy.proc.wait(timeout=10) == 0
    [line] = proxy.audit_records()
    assert (line["decision"], line["upstream_status"]) == ("allow", 200)
    assert [r for r in proxy.log_records() if r.get("msg") == "shutting down"], proxy.stderr()


def test_readyz_turns_503_while_draining(start_proxy, upstream):
    proxy = start_proxy(admin=True, timeout="30s")
    slow_ingress(upstream, delay=3)
    request = Background(send_raw, proxy.port, body=INGRESS_BODY)
    wait_for(lambda: len(upstream.requests) == 1, what="the request to reach the upstream")
    proxy.signal(signal.SIGTERM)
    seen: list = []

    def not_ready():
        try:
            answer = proxy.admin("/readyz", timeout=2)
        except OSError as err:
            seen.append(repr(err))
            return False
        seen.append(answer.status)
        return answer.status == 503

    wait_for(not_ready, 2, "/readyz to answer 503 while draining")
    assert not request.done, f"the drain ended before /readyz said 503: {seen}"
    request.join()
    assert request.result.status == 200
    assert proxy.proc.wait(timeout=10) == 0


def test_idle_keep_alive_connection_does_not_hold_up_shutdown(start_proxy, upstream):
    proxy = start_proxy()
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    try:
        assert _keep_alive_request(sock, proxy.port, DESCRIBE_BODY).status == 200
        started = time.monotonic()
        proxy.signal(signal.SIGTERM)
        assert proxy.proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
    finally:
        sock.close()


def test_shutdown_gives_up_on_requests_after_the_grace_period(start_proxy, upstream):
    proxy = start_proxy(timeout="60s", shutdown_grace="1s")
    slow_ingress(upstream, delay=30)
    request = Background(send_raw, proxy.port, body=INGRESS_BODY, timeout=40)
    wait_for(lambda: len(upstream.requests) == 1, what="the request to reach the upstream")
    started = time.monotonic()
    proxy.signal(signal.SIGTERM)
    assert proxy.proc.wait(timeout=1 + 5) == 0
    elapsed = time.monotonic() - started
    assert elapsed >= 0.5, f"exited after {elapsed:.2f}s without waiting for the in-flight request"
    # The client is not left hanging once the process is gone.
    request.join(10, allow_error=True)


# ---- limits --------------------------------------------------------------------------------
def _keep_alive_request(sock: socket.socket, port: int, body: str) -> RawResponse:
    """Sends one request on an open connection without Connection: close and
    reads its answer, leaving the connection open."""
    head = (
        "POST / HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: {raw_authorization()}\r\n"
        "X-Amz-Date: 20261125T050916Z\r\n"
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body.encode())
    response = http.client.HTTPResponse(sock, method="POST")
    response.begin()
    data = response.read()
    assert not response.will_close, "the proxy closed a keep-alive connection after one request"
    return RawResponse(response.status, response.msg, data)


def _wait_closed(sock: socket.socket, timeout: float) -> float:
    """Reads until the peer closes; returns how long that took."""
    started = time.monotonic()
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        pytest.fail(f"the connection was still open after {timeout}s", pytrace=False)
    return time.monotonic() - started


def test_max_concurrent_requests_throttles_the_excess(start_proxy, make_client, upstream):
    proxy = start_proxy(admin=True, timeout="30s", max_concurrent_requests=1)
    slow_ingress(upstream, delay=2)
    first = Background(send_raw, proxy.port, body=INGRESS_BODY)
    wait_for(lambda: len(upstream.requests) == 1, what="the first request to reach the upstream")
    assert proxy.metrics().get("in_flight_requests") == 1
    throttled = assert_api_error(describe(proxy), 400, "Throttling", error_type="Sender")
    # An SDK with retries off sees the same error.
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        make_client(proxy).describe_cache_clusters()
    assert raised.value.response["Error"]["Code"] == "Throttling"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not first.done, "the slow request finished before the throttling could be checked"
    first.join()
    assert first.result.status == 200
    # The slot is free again.
    assert describe(proxy).status == 200
    assert [r.action for r in upstream.requests] == [INGRESS, DESCRIBE]

    m = proxy.metrics()
    assert m.get("rejections_total", code="Throttling") == 2
    assert m.get("in_flight_requests") == 0
    assert m.total("requests_total") == 4
    line = audit_line(proxy, throttled.request_id)
    assert (line["decision"], line["error_code"], line["upstream_status"]) == ("error", "Throttling", None)
    assert len(proxy.audit_records()) == 4


def test_idle_timeout_closes_a_quiet_keep_alive_connection(start_proxy, upstream):
    proxy = start_proxy(idle_timeout="1s")
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    try:
        assert _keep_alive_request(sock, proxy.port, DESCRIBE_BODY).status == 200
        waited = _wait_closed(sock, timeout=6)
    finally:
        sock.close()
    assert waited >= 0.5, f"closed after {waited:.2f}s, before the 1s idle timeout"


def test_idle_timeout_spares_a_busy_keep_alive_connection(start_proxy, upstream):
    proxy = start_proxy(idle_timeout="1s")
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    try:
        started = time.monotonic()
        for _ in range(4):
            assert _keep_alive_request(sock, proxy.port, DESCRIBE_BODY).status == 200
            time.sleep(0.5)  # intentional: active, but for longer than the idle timeout in total
        assert time.monotonic() - started > 1.5
    finally:
        sock.close()
    assert len(upstream.requests) == 4


def test_header_read_timeout_disconnects_a_slow_client(start_proxy, upstream):
    proxy = start_proxy(limits={"header_read_timeout": "1s"})
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    try:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest of the head
        waited = _wait_closed(sock, timeout=6)
    finally:
        sock.close()
    assert waited >= 0.5, f"closed after {waited:.2f}s, before the 1s header timeout"
    assert upstream.requests == []
    assert describe(proxy).status == 200


# ---- audit failures ---------------------------------------------------------------------------
def test_audit_write_failure_rejects_and_stops_forwarding(start_proxy, upstream):
    proxy = start_proxy(admin=True, audit_log="/dev/full", audit_failure="reject")
    first = describe(proxy)
    assert_api_error(first, 503, "ServiceUnavailable", error_type="Receiver")
    # The first line fails only after the upstream answered (the README says so).
    assert len(upstream.requests) == 1
    second = describe(proxy)
    assert_api_error(second, 503, "ServiceUnavailable", error_type="Receiver")
    assert len(upstream.requests) == 1, "forwarded a request while the audit log cannot be written"
    denied = send_raw(proxy.port, body=LEGACY_BODY)
    assert_api_error(denied, 503, "ServiceUnavailable", error_type="Receiver")
    m = proxy.metrics()
    assert m.get("audit_write_failures_total") == 3
    assert m.get("rejections_total", code="ServiceUnavailable") == 3
    assert proxy.proc.poll() is None


def test_audit_write_failure_with_continue_serves_requests(start_proxy, upstream):
    proxy = start_proxy(admin=True, audit_log="/dev/full", audit_failure="continue")
    assert describe(proxy).status == 200
    assert describe(proxy).status == 200
    assert len(upstream.requests) == 2
    m = proxy.metrics()
    assert m.get("audit_write_failures_total") == 2
    assert m.get("rejections_total", code="ServiceUnavailable") is None


# ---- configuration ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options, policy, fragment",
    [
        ({"mode": "shadw"}, TEST_POLICY, "mode"),
        ({"audit_failure": "ignore"}, TEST_POLICY, "audit_failure"),
        ({"watch_interval": "soon"}, TEST_POLICY, "watch_interval"),
        ({"shutdown_grace": "forever"}, TEST_POLICY, "shutdown_grace"),
        ({"idle_timeout": "a while"}, TEST_POLICY, "idle_timeout"),
        ({"max_concurrent_requests": 0}, TEST_POLICY, "max_concurrent_requests"),
        ({}, TEST_POLICY + "    mode: shadw\n", "rule `no-legacy-group`: `mode`"),
    ],
    ids=["mode", "audit_failure", "watch_interval", "shutdown_grace", "idle_timeout", "max_concurrent", "rule-mode"],
)
def test_invalid_operations_settings_are_refused_at_start(tmp_path, options, policy, fragment):
    config = write_config(tmp_path, listen_port=free_port(), endpoint="http://127.0.0.1:9", policy=policy, **options)
    assert fragment in refused_at_start(config)


def refused_at_start(config) -> str:
    """Runs `serve` on a config it must refuse; returns its stderr."""
    done = serve_once(config)
    assert done.returncode != 0, done.stderr
    return done.stderr


def test_admin_listen_on_the_data_port_is_refused(tmp_path):
    port = free_port()
    config = write_config(
        tmp_path, listen_port=port, endpoint="http://127.0.0.1:9", policy=TEST_POLICY, admin_port=port
    )
    assert "admin_listen" in refused_at_start(config)
