"""Fault tests: an upstream that refuses, resets, stalls, answers garbage or
its own 5xx; slow (slowloris) clients; 10,000 idle connections; the
connection limit; and a bounded soak under policy reload churn. Through all
of it the proxy stays up, answers with the right AWS error, writes every
audit line, never sends a call upstream twice, and its memory stays bounded.

Everything is on 127.0.0.1, and every loop is bounded in count and time.
The soak runs for SOAK_SECONDS (20 by default); run it for minutes with e.g.
`SOAK_SECONDS=300 pytest tests/e2e/test_faults.py -k soak`."""

from __future__ import annotations

import errno
import http.client
import json
import os
import resource
import selectors
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import botocore.exceptions
import pytest

from fault_upstream import OVERSIZED_ANSWER, FaultUpstream
from harness.processes import free_port
from support import (
    ALLOWED_INGRESS,
    PROXY_ACCESS_KEY,
    PROXY_SECRET_KEY,
    RAW_AMZ_DATE,
    TEST_POLICY,
    RawResponse,
    assert_api_error,
    form_encode,
    ingress_pairs,
    parse_error_xml,
    raw_authorization,
    send_raw,
    sign_raw,
)
from test_operations import (
    CALLERS,
    INGRESS,
    OPS_KEY,
    OPS_SECRET,
    Background,
    _wait_closed,
    audit_line,
    describe,
    labels,
    replace_file,
    revision,
    series_of,
    wait_for,
)

INGRESS_BODY = form_encode(ingress_pairs())


@pytest.fixture
def fault_upstream():
    """A misbehaving upstream, in normal mode until the test says otherwise."""
    with FaultUpstream(PROXY_ACCESS_KEY, PROXY_SECRET_KEY) as fault:
        yield fault


def ingress_lines(proxy) -> list[dict]:
    return [r for r in proxy.audit_records() if r.get("action") == INGRESS]


def assert_recovers(proxy, make_client, fault: FaultUpstream, arrivals_before: int) -> None:
    """The proxy is up, and once the upstream behaves it serves the next
    non-idempotent call exactly once."""
    assert proxy.proc.poll() is None, "the proxy exited"
    fault.mode = "normal"
    answered = proxy.metrics().value("upstream_requests_total", status_class="2xx")
    answer = make_client(proxy).authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    assert answer["CacheSecurityGroup"]["CacheSecurityGroupName"] == ALLOWED_INGRESS["CacheSecurityGroupName"]
    arrivals = fault.arrivals
    assert len(arrivals) == arrivals_before + 1, [a.mode for a in arrivals]
    assert arrivals[-1].mode == "normal" and arrivals[-1].signature_ok, arrivals[-1].signature_problems
    assert proxy.metrics().value("upstream_requests_total", status_class="2xx") == answered + 1


# ---- the upstream misbehaving -------------------------------------------------------------
NO_ANSWER = "the upstream endpoint sent no valid answer: "
TIMED_OUT = "the upstream endpoint did not answer within 1s"
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
        "oversized_body",
        None,
        f"the upstream answer is larger than the limit of {OVERSIZED_ANSWER} bytes",
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


def test_a_call_dropped_on_a_reused_upstream_connection_is_not_sent_again(start_proxy, make_client, fault_upstream):
    # The pool may retry a call on a fresh connection only when the reused
    # one failed before the call was written; here it was written and read.
    # One worker: each worker has its own pool, and both calls must use one.
    proxy = start_proxy(admin=True, endpoint=fault_upstream.endpoint, extra="workers: 1\n")
    assert send_raw(proxy.port, body=INGRESS_BODY).status == 200
    fault_upstream.mode = "close_after_request"
    err = assert_api_error(send_raw(proxy.port, body=INGRESS_BODY), 503, "ServiceUnavailable", error_type="Receiver")
    assert err.message.startswith(NO_ANSWER), err.message
    assert [a.mode for a in fault_upstream.arrivals] == ["normal", "close_after_request"]
    assert fault_upstream.accepted == 1, "the call was sent again on a new connection"
    assert series_of(proxy.metrics(), "upstream_requests_total") == {
        labels(status_class="2xx"): 1,
        labels(status_class="error"): 1,
    }
    assert_recovers(proxy, make_client, fault_upstream, 2)


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

    with FaultUpstream(PROXY_ACCESS_KEY, PROXY_SECRET_KEY, port=port) as fault:
        assert_recovers(proxy, make_client, fault, 0)


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


# ---- slow clients ----------------------------------------------------------------------------
def request_head(port: int, body: str) -> bytes:
    """The head of a form POST of `body`, as an SDK sends it (trusted caller)."""
    return (
        "POST / HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: {raw_authorization()}\r\n"
        f"X-Amz-Date: {RAW_AMZ_DATE}\r\n"
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()


def read_response(sock: socket.socket) -> RawResponse:
    response = http.client.HTTPResponse(sock, method="POST")
    response.begin()
    return RawResponse(response.status, response.msg, response.read())


def test_a_slow_body_gets_408_request_timeout(start_proxy, upstream):
    proxy = start_proxy(admin=True, limits={"body_read_timeout": "1s"})
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(request_head(proxy.port, INGRESS_BODY) + INGRESS_BODY[:20].encode())  # and no more
        err = assert_api_error(read_response(sock), 408, "RequestTimeout")
        _wait_closed(sock, timeout=5)
    line = audit_line(proxy, err.request_id)
    assert (line["decision"], line["error_code"], line["upstream_status"]) == ("error", "RequestTimeout", None)
    assert series_of(proxy.metrics(), "rejections_total") == {labels(code="RequestTimeout"): 1}
    assert upstream.requests == []
    assert describe(proxy).status == 200


@dataclass
class SlowClient:
    """One slowloris connection: `style` is `stuck_head` (part of a head,
    then nothing), `trickled_head` (the head one byte a round) or
    `trickled_body` (the whole head, then the body one byte a round)."""

    style: str
    sock: socket.socket
    pending: bytes
    received: bytearray = field(default_factory=bytearray)
    closed: bool = False


class Slowloris:
    """Many slow clients, driven round by round from one thread: each round
    reads what the proxy sent (noting closes), then sends each trickling
    client its next byte."""

    def __init__(self, port: int, counts: dict[str, int]):
        self.port = port
        self.selector = selectors.DefaultSelector()  # epoll: no FD_SETSIZE limit
        self.clients: list[SlowClient] = []
        head = request_head(port, INGRESS_BODY)
        for style, count in counts.items():
            for _ in range(count):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                if style == "stuck_head":
                    sock.sendall(head[:30])
                    pending = b""
                elif style == "trickled_head":
                    pending = head
                else:
                    sock.sendall(head)
                    pending = INGRESS_BODY.encode()
                sock.setblocking(False)
                client = SlowClient(style, sock, pending)
                self.selector.register(sock, selectors.EVENT_READ, client)
                self.clients.append(client)

    def open_count(self) -> int:
        return sum(not c.closed for c in self.clients)

    def round(self) -> None:
        for key, _ in self.selector.select(timeout=0):
            client: SlowClient = key.data
            try:
                data = client.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if data:
                client.received += data
            else:
                client.closed = True
                self.selector.unregister(client.sock)
                client.sock.close()
        for client in self.clients:
            # Once an answer starts, a client stops sending, as a real one would.
            if not client.closed and client.pending and not client.received:
                try:
                    client.sock.send(client.pending[:1])
                    client.pending = client.pending[1:]
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    pass

    def run_until_closed(self, interval: float, deadline: float) -> None:
        while self.open_count() and time.monotonic() < deadline:
            self.round()
            time.sleep(interval)

    def close(self) -> None:
        for client in self.clients:
            if not client.closed:
                client.sock.close()
        self.selector.close()


def parse_answer(data: bytes) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 answer read off a socket."""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


SLOW_CLIENTS = {"stuck_head": 100, "trickled_head": 100, "trickled_body": 300}


def test_hundreds_of_slow_clients_do_not_starve_a_normal_one(start_proxy, upstream):
    # More slow bodies than the default 256 request slots: they must not
    # take the slots a normal request needs.
    proxy = start_proxy(admin=True, idle_timeout="4s", limits={"header_read_timeout": "4s", "body_read_timeout": "4s"})
    wait_for(lambda: proxy.metrics().get("connections_open") == 0, what="connections_open == 0")
    slow = Slowloris(proxy.port, SLOW_CLIENTS)
    total, bodies = sum(SLOW_CLIENTS.values()), SLOW_CLIENTS["trickled_body"]
    driver = threading.Thread(target=slow.run_until_closed, args=(0.25, time.monotonic() + 30), daemon=True)
    driver.start()
    try:
        wait_for(lambda: proxy.metrics().get("connections_open") == total, what=f"{total} slow connections")
        wait_for(lambda: proxy.metrics().get("in_flight_requests") == bodies, what="the slow bodies to be read")
        for _ in range(10):
            assert describe(proxy).status == 200
        still_open = {c.style for c in slow.clients if not c.closed}
        assert still_open == set(SLOW_CLIENTS), f"the normal requests did not overlap every slow style: {still_open}"
        driver.join(timeout=35)
        assert not driver.is_alive() and slow.open_count() == 0, f"{slow.open_count()} slow clients still open"
    finally:
        slow.close()

    answered_ids = []
    for client in slow.clients:
        if client.style != "trickled_body":
            # Cut off before its head was complete, without an answer.
            assert not client.received, (client.style, bytes(client.received[:200]))
            assert client.style == "stuck_head" or client.pending, "a trickled head was read to its end"
        elif client.received:  # a reset can overtake the answer
            status, body = parse_answer(bytes(client.received))
            err = parse_error_xml(body)
            assert (status, err.code) == (408, "RequestTimeout"), (status, body)
            answered_ids.append(err.request_id)
    # A reset can overtake a few answers, but most must arrive.
    assert len(answered_ids) >= bodies // 2, f"only {len(answered_ids)} of {bodies} slow bodies got their 408"
    timed_out = {r["request_id"] for r in proxy.audit_records() if r["error_code"] == "RequestTimeout"}
    assert len(timed_out) == bodies and set(answered_ids) <= timed_out
    assert len(proxy.audit_records()) == bodies + 10
    assert len(upstream.requests) == 10
    m = proxy.metrics()
    assert series_of(m, "rejections_total") == {labels(code="RequestTimeout"): bodies}
    assert m.get("in_flight_requests") == 0
    wait_for(lambda: proxy.metrics().get("connections_open") == 0, what="connections_open back to 0")


# ---- many connections --------------------------------------------------------------------------
MIB = 1024 * 1024


def rss_bytes(proxy) -> int:
    """The proxy process's resident set size, from /proc."""
    for line in (Path("/proc") / str(proxy.proc.pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/<pid>/status")


def open_idle_connections(proxy, count: int, batch: int = 500) -> list[socket.socket]:
    """Opens `count` connections that never send a byte, in batches small
    enough for the listen backlog, each batch accepted before the next."""
    socks: list[socket.socket] = []
    selector = selectors.DefaultSelector()
    try:
        while len(socks) < count:
            pending = []
            for _ in range(min(batch, count - len(socks))):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.setblocking(False)
                code = sock.connect_ex(("127.0.0.1", proxy.port))
                assert code in (0, errno.EINPROGRESS), os.strerror(code)
                selector.register(sock, selectors.EVENT_WRITE)
                pending.append(sock)
            deadline = time.monotonic() + 20
            while pending:
                assert time.monotonic() < deadline, f"{len(pending)} connections did not complete"
                for key, _ in selector.select(timeout=1):
                    error = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert error == 0, os.strerror(error)
                    selector.unregister(key.fileobj)
                    pending.remove(key.fileobj)
            opened = len(socks)
            wait_for(
                lambda: proxy.metrics().get("connections_open") >= opened,
                timeout=20,
                what=f"the proxy to accept {opened} connections",
            )
        return socks
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    finally:
        selector.close()


IDLE_CONNECTIONS = 10_000
# What 10,000 idle connections may add to the proxy's RSS. One that has not
# sent a byte costs its task, socket registration and timer: about 1.5 KiB
# (14 MiB in all, measured with the debug build). Building hyper's
# connection state for it first costs about 16 KiB (over 150 MiB); the bound
# sits well between the two.
MAX_IDLE_GROWTH = 48 * MIB


def test_ten_thousand_idle_connections(start_proxy, upstream):
    needed = IDLE_CONNECTIONS + 1000  # in this process, and in the proxy that inherits the limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard RLIMIT_NOFILE is {hard}; {IDLE_CONNECTIONS} connections need {needed} descriptors")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        proxy = start_proxy(
            admin=True,
            idle_timeout="5m",
            limits={"header_read_timeout": "5m", "max_connections": IDLE_CONNECTIONS + 100},
        )
        assert describe(proxy).status == 200
        wait_for(lambda: proxy.metrics().get("connections_open") == 0, what="connections_open == 0")
        idle_rss = rss_bytes(proxy)
        socks = open_idle_connections(proxy, IDLE_CONNECTIONS)
        try:
            assert proxy.metrics().get("connections_open") >= IDLE_CONNECTIONS
            # Still served, with every idle connection open.
            assert describe(proxy).status == 200
            busy_rss = rss_bytes(proxy)
            print(f"\nproxy RSS: {idle_rss / MIB:.1f} MiB idle, {busy_rss / MIB:.1f} MiB with {IDLE_CONNECTIONS} connections")
            assert busy_rss - idle_rss < MAX_IDLE_GROWTH, (
                f"RSS grew from {idle_rss / MIB:.1f} to {busy_rss / MIB:.1f} MiB with {IDLE_CONNECTIONS} idle connections"
            )
            for sock in socks[:: IDLE_CONNECTIONS // 20]:
                with pytest.raises(BlockingIOError):
                    sock.recv(1)  # nothing to read, and not closed by the proxy
        finally:
            for sock in socks:
                sock.close()
        wait_for(lambda: proxy.metrics().get("connections_open") == 0, timeout=30, what="connections_open back to 0")
        assert describe(proxy).status == 200
        assert len(upstream.requests) == 3
        assert proxy.proc.poll() is None
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_connections_past_max_connections_wait_for_a_free_one(start_proxy, upstream):
    proxy = start_proxy(admin=True, idle_timeout="30s", limits={"header_read_timeout": "30s", "max_connections": 2})
    wait_for(lambda: proxy.metrics().get("connections_open") == 0, what="connections_open == 0")
    idle = [socket.create_connection(("127.0.0.1", proxy.port), timeout=10) for _ in range(2)]
    waiting = None
    try:
        wait_for(lambda: proxy.metrics().get("connections_open") == 2, what="connections_open == 2")
        # The kernel completes the handshake; the proxy does not take the
        # connection while both of its slots are used.
        waiting = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        waiting.sendall(request_head(proxy.port, INGRESS_BODY) + INGRESS_BODY.encode())
        waiting.settimeout(1)
        with pytest.raises(socket.timeout):
            waiting.recv(1)
        assert proxy.metrics().get("connections_open") == 2
        assert proxy.admin("/healthz").status == 200
        assert upstream.requests == []

        idle[0].close()
        waiting.settimeout(10)
        assert read_response(waiting).status == 200
        assert [r.action for r in upstream.requests] == [INGRESS]
    finally:
        for sock in [*idle, waiting]:
            if sock is not None:
                sock.close()
    wait_for(lambda: proxy.metrics().get("connections_open") == 0, what="connections_open back to 0")
    assert describe(proxy).status == 200


# ---- a soak under reload churn -------------------------------------------------------------
SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "20"))
SOAK_CLIENTS = 4
# A warmed-up proxy holds about 26 MiB (debug build); its allocator may take
# a few MiB more at a concurrency peak. A leak of 1 KiB a request or 50 KiB
# a reload would pass this within a few minutes' soak.
SOAK_RSS_SLACK = 16 * MIB
# Policy B also freezes the `prod-flip-*` groups, which A allows.
POLICY_A = TEST_POLICY
POLICY_B = TEST_POLICY + """\
  - id: freeze-flip
    effect: deny
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["prod-flip-[a-z0-9-]+"]
"""
POLICY_BROKEN = "rules:\n  - id: typo\n    effect: allow\n    actions: [AuthoriseCacheSecurityGroupIngress]\n"
REVISIONS = {revision(POLICY_A): "A", revision(POLICY_B): "B"}
# What each kind of request gets: (rule, allowed) under policy A and under B.
SOAK_DECISIONS = {
    "ok": {"A": ("prod-app-ingress", True), "B": ("prod-app-ingress", True)},
    "flip": {"A": ("prod-app-ingress", True), "B": ("freeze-flip", False)},
    "legacy": {"A": ("no-legacy-group", False), "B": ("no-legacy-group", False)},
}
# Mostly decidable requests, a few malformed ones.
SOAK_KINDS = ["ok", "flip", "legacy", "flip", "ok", "flip", "legacy", "ok", "flip", "malformed"]
SOAK_MALFORMED = {"missing_action": (400, "MissingAction"), "bad_signature": (403, "SignatureDoesNotMatch")}


@dataclass
class Sent:
    """One soak request and its answer."""

    kind: str
    ec2_group: str
    status: int
    request_id: str | None  # the answer's x-amzn-RequestId
    body: bytes


def soak_client(port: int, index: int, deadline: float, sent: list[Sent], keep_alive: bool) -> None:
    """Signed requests of every kind until the deadline, on one keep-alive
    connection or a new connection each."""
    conn = None
    for n in range(1_000_000):
        if time.monotonic() > deadline:
            break
        kind = SOAK_KINDS[n % len(SOAK_KINDS)]
        if kind == "malformed":
            kind = list(SOAK_MALFORMED)[(n // len(SOAK_KINDS)) % len(SOAK_MALFORMED)]
        ec2_group = f"app-{index}-{n}"
        group = "prod-legacy" if kind == "legacy" else f"prod-{kind.replace('_', '-')}-{index}-{n}"
        pairs = ingress_pairs(CacheSecurityGroupName=group, EC2SecurityGroupName=ec2_group)
        if kind == "missing_action":
            pairs = [(k, v) for k, v in pairs if k != "Action"]
        body = form_encode(pairs)
        secret = "not/the+right/secret/0123456789abcdef" if kind == "bad_signature" else OPS_SECRET
        authorization, amz_date = sign_raw(port, body, OPS_KEY, secret)
        if not keep_alive:
            resp = send_raw(port, body=body, authorization=authorization, amz_date=amz_date)
            sent.append(Sent(kind, ec2_group, resp.status, resp.header("x-amzn-RequestId"), resp.body))
            continue
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        conn.request(
            "POST",
            "/",
            body=body,
            headers={
                "Authorization": authorization,
                "X-Amz-Date": amz_date,
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            },
        )
        answer = conn.getresponse()
        data = answer.read()
        sent.append(Sent(kind, ec2_group, answer.status, answer.getheader("x-amzn-RequestId"), data))
        if answer.will_close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


@dataclass
class Churn:
    valid: int = 0
    invalid: int = 0


def reload_churn(proxy, deadline: float, churn: Churn) -> None:
    """Rewrites the policy between A and B (now and then a broken one) and
    reloads, by POST /reload and by SIGHUP in turn, until the deadline."""
    for n in range(1_000_000):
        if time.monotonic() > deadline:
            break
        text = POLICY_BROKEN if n % 4 == 3 else (POLICY_A, POLICY_B)[n % 2]
        replace_file(proxy.policy_path, text)
        if n % 3 == 2:
            m = proxy.metrics()
            before = m.value("policy_reloads_total", result="success") + m.value("policy_reloads_total", result="failure")
            proxy.signal(signal.SIGHUP)

            def done():
                m = proxy.metrics()
                return m.value("policy_reloads_total", result="success") + m.value("policy_reloads_total", result="failure") > before

            wait_for(done, timeout=10, what="the SIGHUP reload")
        else:
            answer = proxy.reload()
            if text is POLICY_BROKEN:
                assert answer.status == 400 and answer.json()["result"] == "failed", answer.text
            else:
                assert answer.status == 200, answer.text
                assert answer.json()["policy_revision"] == revision(text)
        if text is POLICY_BROKEN:
            churn.invalid += 1
        else:
            churn.valid += 1
        time.sleep(0.05)


def proxy_fds(proxy) -> int:
    return len(os.listdir(f"/proc/{proxy.proc.pid}/fd"))


def test_soak_under_reload_churn(start_proxy, upstream):
    proxy = start_proxy(admin=True, callers=CALLERS, policy=POLICY_A, audit_log="audit.jsonl", watch_interval="0s")
    wait_for(lambda: proxy.metrics().get("connections_open") == 0, what="connections_open == 0")
    fds_before = proxy_fds(proxy)
    started = time.monotonic()
    deadline = started + SOAK_SECONDS
    sent: list[list[Sent]] = [[] for _ in range(SOAK_CLIENTS)]
    churn = Churn()
    workers = [Background(soak_client, proxy.port, i, deadline, sent[i], keep_alive=i > 0) for i in range(SOAK_CLIENTS)]
    reloader = Background(reload_churn, proxy, deadline, churn)

    # RSS once a second; the first third of the run is the warm-up.
    samples: list[tuple[float, int]] = []
    while time.monotonic() < deadline and not any(w.done for w in [*workers, reloader]):
        samples.append((time.monotonic() - started, rss_bytes(proxy)))
        time.sleep(1)
    for worker in [*workers, reloader]:
        worker.join(timeout=60)
    end_rss = rss_bytes(proxy)
    warm = [rss for at, rss in samples if at >= SOAK_SECONDS / 3]
    assert warm, "no RSS sample after the warm-up"
    requests = [s for per_client in sent for s in per_client]
    print(
        f"\nsoak: {SOAK_SECONDS:.0f}s, {len(requests)} requests, {churn.valid} reloads, {churn.invalid} refused; "
        f"RSS {samples[0][1] / MIB:.1f} MiB at start, {warm[0] / MIB:.1f} MiB after warm-up, "
        f"{max(rss for _, rss in samples) / MIB:.1f} MiB at most, {end_rss / MIB:.1f} MiB at the end"
    )
    assert proxy.proc.poll() is None, "the proxy exited"
    assert churn.valid >= 2 and churn.invalid >= 1, churn

    lines = [json.loads(line) for line in proxy.audit_path.read_text().splitlines()]
    by_id = {line["request_id"]: line for line in lines}
    assert len(by_id) == len(lines), "two audit lines share a request id"
    by_group: dict[str, list[dict]] = {}
    for line in lines:
        by_group.setdefault(line["ec2_security_group"], []).append(line)
    # No audit line lost, none extra, each on a policy that was valid.
    assert len(lines) == len(requests), f"{len(lines)} audit lines for {len(requests)} requests"
    assert {line["policy_revision"] for line in lines} <= set(REVISIONS)

    allowed, seen_decisions = set(), set()
    for request in requests:
        if request.kind in SOAK_MALFORMED:
            status, code = SOAK_MALFORMED[request.kind]
            err = parse_error_xml(request.body)
            assert (request.status, err.code) == (status, code), request
            line = by_id[err.request_id]
            assert (line["decision"], line["error_code"]) == ("error", code), line
            continue
        [line] = by_group[request.ec2_group]
        policy = REVISIONS[line["policy_revision"]]
        rule, allow = SOAK_DECISIONS[request.kind][policy]
        seen_decisions.add((request.kind, policy, allow))
        assert line["rules"] == [rule], (request, line)
        if allow:
            assert request.status == 200, (request, line)
            assert b"<AuthorizeCacheSecurityGroupIngressResult>" in request.body
            assert (line["decision"], line["error_code"], line["upstream_status"]) == ("allow", None, 200), line
            allowed.add(request.ec2_group)
        else:
            assert request.status == 400, (request, line)
            err = parse_error_xml(request.body)
            assert err.code == "InvalidParameterCombination" and f"`{rule}`" in err.message, err
            assert err.request_id == request.request_id == line["request_id"]
            assert (line["decision"], line["error_code"], line["upstream_status"]) == (
                "deny",
                "InvalidParameterCombination",
                None,
            ), line
    # The churn showed: the same kind of request was decided by both policies.
    assert {("flip", "A", True), ("flip", "B", False)} <= seen_decisions, seen_decisions

    # The upstream got exactly the allowed calls, each once.
    forwarded = [r.params.get("EC2SecurityGroupName") for r in upstream.requests]
    assert len(forwarded) == len(allowed) and set(forwarded) == allowed
    assert all(r.signature_ok for r in upstream.requests)

    m = proxy.metrics()
    assert m.value("policy_reloads_total", result="success") == churn.valid
    assert m.value("policy_reloads_total", result="failure") == churn.invalid
    assert m.total("requests_total") == len(requests)
    assert m.get("in_flight_requests") == 0
    assert m.value("upstream_requests_total", status_class="2xx") == len(allowed)
    wait_for(lambda: proxy.metrics().get("connections_open") == 0, what="connections_open back to 0")
    # No connection is left behind: the upstream pool keeps about one idle
    # connection per client that ran at once (a few more when a request
    # checks one out just before another is returned), not one per request.
    assert proxy_fds(proxy) <= fds_before + 2 * SOAK_CLIENTS, (fds_before, proxy_fds(proxy))
    # Memory: what a warmed-up proxy holds, plus allocator slack, not a
    # growth with the number of requests or reloads.
    assert end_rss <= max(warm[0], samples[0][1]) + SOAK_RSS_SLACK, (
        f"RSS grew from {warm[0] / MIB:.1f} MiB after warm-up to {end_rss / MIB:.1f} MiB"
    )
