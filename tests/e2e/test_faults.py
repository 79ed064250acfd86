"""Fault tests: an upstream that refuses, resets, stalls, answers garbage or
its own 5xx; slow (slowloris) clients; 10,000 idle connections; the
connection limit; and a bounded soak under policy reload churn. Through all
of it the proxy stays up, answers with the right AWS error, writes every
audit line, never sends a call upstream twice, and its memory stays bounded.

Everything is on 127.0.0.1, and every loop is bounded in count and time.
The soak runs for SOAK_SECONDS (20 by default); run it for minutes with e.g.
`SOAK_SECONDS=300 pytest tests/e2e/test_faults.py -k soak`."""

from __future__ import annotations

import pytest
import botocore.exceptions

from conftest import free_port
from fault_upstream import FaultUpstream
from support import (
    ALLOWED_INGRESS,
    PROXY_ACCESS_KEY,
    PROXY_SECRET_KEY,
    assert_api_error,
    form_encode,
    ingress_pairs,
    send_raw,
)
from test_operations import INGRESS, labels, series_of, wait_for

INGRESS_BODY = form_encode(ingress_pairs())


@pytest.fixture
def fault_upstream():
    """A misbehaving upstream, in normal mode until the test says otherwise."""
    fault = FaultUpstream(PROXY_ACCESS_KEY, PROXY_SECRET_KEY).start()
    try:
        yield fault
    finally:
        fault.stop()


def ingress_lines(proxy) -> list[dict]:
    return [r for r in proxy.audit_records() if r.get("action") == INGRESS]


def assert_recovers(proxy, make_client, fault: FaultUpstream, arrivals_before: int) -> None:
    """The proxy is up, and once the upstream behaves it serves the next
    non-idempotent call exactly once."""
    assert proxy.proc.poll() is None, "the proxy exited"
    fault.mode = "normal"
    answer = make_client(proxy).authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    assert answer["CacheSecurityGroup"]["CacheSecurityGroupName"] == ALLOWED_INGRESS["CacheSecurityGroupName"]
    arrivals = fault.arrivals
    assert len(arrivals) == arrivals_before + 1, [a.mode for a in arrivals]
    assert arrivals[-1].mode == "normal" and arrivals[-1].signature_ok, arrivals[-1].signature_problems
    assert proxy.metrics().get("upstream_requests_total", status_class="2xx") == 1


# ---- the upstream misbehaving -------------------------------------------------------------
NO_ANSWER = "the upstream endpoint sent no valid answer: "
TIMED_OUT = "the upstream endpoint did not answer within 1s"
OVERSIZED = 16 << 20  # the default upstream.max_response_bytes
# What a misbehaving upstream makes the proxy answer: always 503
# ServiceUnavailable (Receiver), with a message that tells the failures
# apart, counted under a status class, and the call sent to the upstream at
# most once (`arrivals` requests reached it in full).
PROXY_ANSWERED_FAULTS = [
    # mode, raw answer, message fragment, status class, arrivals, upstream timeout
    pytest.param("close_on_accept", None, NO_ANSWER, "error", 0, "10s", id="close_on_accept"),
    pytest.param("close_after_request", None, NO_ANSWER, "error", 1, "10s", id="close_after_request"),
    pytest.param("reset_in_head", None, NO_ANSWER, "error", 1, "10s", id="reset_in_head"),
    pytest.param("reset_mid_body", None, NO_ANSWER, "error", 1, "10s", id="reset_mid_body"),
    pytest.param("garbage", None, NO_ANSWER, "error", 1, "10s", id="garbage"),
    pytest.param("bad_status_line", None, NO_ANSWER, "error", 1, "10s", id="bad_status_line"),
    pytest.param("too_many_headers", None, NO_ANSWER, "error", 1, "10s", id="too_many_headers"),
    pytest.param("huge_head", None, NO_ANSWER, "error", 1, "10s", id="huge_head"),
    pytest.param(
        "raw",
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
        NO_ANSWER + "the status `101` is not a final HTTP status",
        "error",
        1,
        "10s",
        id="status_101",
    ),
    pytest.param(
        "raw",
        b"HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok",
        NO_ANSWER + "the status `600` is not a final HTTP status",
        "error",
        1,
        "10s",
        id="status_600",
    ),
    pytest.param(
        "raw",
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (OVERSIZED + 1, b"x" * (OVERSIZED + 1)),
        f"the upstream answer is larger than the limit of {OVERSIZED} bytes",
        "error",
        1,
        "10s",
        id="oversized_body",
    ),
    pytest.param("stall_head", None, TIMED_OUT, "timeout", 1, "1s", id="stall_head"),
    pytest.param("stall_body", None, TIMED_OUT, "timeout", 1, "1s", id="stall_body"),
]


@pytest.mark.parametrize("mode, raw, message, status_class, arrivals, timeout", PROXY_ANSWERED_FAULTS)
def test_an_upstream_fault_gets_503_service_unavailable(
    mode, raw, message, status_class, arrivals, timeout, start_proxy, make_client, fault_upstream
):
    fault_upstream.mode, fault_upstream.raw_answer = mode, raw
    proxy = start_proxy(admin=True, endpoint=fault_upstream.endpoint, timeout=timeout)

    resp = send_raw(proxy.port, body=INGRESS_BODY)
    err = assert_api_error(resp, 503, "ServiceUnavailable", error_type="Receiver")
    assert message in err.message, err.message

    # The call reached the upstream at most once: no retry, not even on a new
    # connection, of a request the upstream may have acted on.
    assert len(fault_upstream.arrivals) == arrivals, [a.mode for a in fault_upstream.arrivals]
    assert fault_upstream.accepted == 1, "the proxy opened another upstream connection to retry"
    assert all(a.signature_ok for a in fault_upstream.arrivals)
    # A stalled upstream connection is closed, not left behind.
    wait_for(lambda: fault_upstream.stalled == 0, what="the proxy to close the stalled upstream connection")

    [line] = ingress_lines(proxy)
    assert line["request_id"] == err.request_id
    assert (line["decision"], line["rules"]) == ("allow", ["prod-app-ingress"])
    assert (line["error_code"], line["upstream_status"]) == ("ServiceUnavailable", None)
    m = proxy.metrics()
    assert series_of(m, "upstream_requests_total") == {labels(status_class=status_class): 1}
    assert series_of(m, "rejections_total") == {labels(code="ServiceUnavailable"): 1}
    assert m.total("requests_total", decision="allow") == 1
    assert m.get("in_flight_requests") == 0

    assert_recovers(proxy, make_client, fault_upstream, arrivals)


def test_an_upstream_that_comes_up_after_refusing_is_used(start_proxy, make_client, upstream):
    # test_proxy.py checks the 503 of an unreachable upstream; this checks
    # the audit line, and that the proxy reconnects once it listens.
    port = free_port()
    proxy = start_proxy(admin=True, endpoint=f"http://127.0.0.1:{port}")
    err = assert_api_error(send_raw(proxy.port, body=INGRESS_BODY), 503, "ServiceUnavailable", error_type="Receiver")
    assert err.message.startswith("the upstream endpoint cannot be reached: "), err.message
    [line] = ingress_lines(proxy)
    assert (line["request_id"], line["decision"]) == (err.request_id, "allow")
    assert (line["error_code"], line["upstream_status"]) == ("ServiceUnavailable", None)
    m = proxy.metrics()
    assert series_of(m, "upstream_requests_total") == {labels(status_class="error"): 1}
    assert series_of(m, "rejections_total") == {labels(code="ServiceUnavailable"): 1}

    fault = FaultUpstream(PROXY_ACCESS_KEY, PROXY_SECRET_KEY, port=port).start()
    try:
        assert_recovers(proxy, make_client, fault, 0)
    finally:
        fault.stop()


@pytest.mark.parametrize("mode, status, code", [("error_500", 500, "InternalFailure"), ("error_503", 503, "ServiceUnavailable")])
def test_an_upstream_error_is_passed_through(mode, status, code, start_proxy, make_client, fault_upstream):
    fault_upstream.mode = mode
    proxy = start_proxy(admin=True, endpoint=fault_upstream.endpoint)

    resp = send_raw(proxy.port, body=INGRESS_BODY)
    err = assert_api_error(resp, status, code, error_type="Receiver")
    [arrival] = fault_upstream.arrivals
    # The upstream's own error, request id included, not one of the proxy's.
    assert err.request_id == arrival.request_id
    # botocore reads it as ElastiCache's error.
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        make_client(proxy).authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    response = raised.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert response["ResponseMetadata"]["RequestId"] == fault_upstream.arrivals[-1].request_id
    assert len(fault_upstream.arrivals) == 2

    lines = ingress_lines(proxy)
    assert len(lines) == 2
    for line in lines:
        assert (line["decision"], line["rules"]) == ("allow", ["prod-app-ingress"])
        # Not the proxy's rejection: the upstream's status says what happened.
        assert (line["error_code"], line["upstream_status"]) == (None, status)
    m = proxy.metrics()
    assert series_of(m, "upstream_requests_total") == {labels(status_class="5xx"): 2}
    assert series_of(m, "rejections_total") == {}

    assert_recovers(proxy, make_client, fault_upstream, 2)


def test_a_slow_upstream_within_the_timeout_is_waited_for(start_proxy, make_client, fault_upstream):
    fault_upstream.mode, fault_upstream.delay = "slow", 0.5
    proxy = start_proxy(admin=True, endpoint=fault_upstream.endpoint, timeout="5s")
    resp = send_raw(proxy.port, body=INGRESS_BODY)
    assert resp.status == 200, resp.body
    [arrival] = fault_upstream.arrivals
    assert resp.header("x-amzn-RequestId") == arrival.request_id
    assert b"<AuthorizeCacheSecurityGroupIngressResult>" in resp.body
    [line] = ingress_lines(proxy)
    assert (line["decision"], line["error_code"], line["upstream_status"]) == ("allow", None, 200)
    assert series_of(proxy.metrics(), "upstream_requests_total") == {labels(status_class="2xx"): 1}
