"""A misbehaving ElastiCache upstream for the fault tests, on 127.0.0.1 only.

Raw sockets, one thread per connection, so that it can do what no HTTP
server library would: close a connection as soon as it is accepted, reset it
(RST, via SO_LINGER 0) in the middle of an answer, stall before or inside an
answer, send bytes that are not HTTP, an invalid status line or a huge header
block, or answer with a real-shaped ElastiCache 500/503 error.

The mode is set by the test (`upstream.mode = "stall_head"`) and read when a
connection is accepted (`close_on_accept`) or when a request has been read
(every other mode), so a test can switch it between requests. Every request
that fully arrives is recorded with the mode it met (`arrivals`), and its
SigV4 signature is checked with the fake upstream's botocore-based verifier,
so a test can tell how often the proxy really sent a non-idempotent call."""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fake_upstream import (
    LoopbackServer,
    _error_xml,
    authorize_ingress_xml,
    describe_cache_clusters_xml,
    generic_action_xml,
    verify_sigv4,
)

MODES = (
    "normal",  # a well-formed 200 answer, keep-alive
    "slow",  # the same after `delay` seconds
    "close_on_accept",  # accept, then close before reading anything
    "close_after_request",  # read the whole request, then close without a word
    "reset_in_head",  # the status line and some headers, then RST
    "reset_mid_body",  # the whole head and half the body, then RST
    "stall_head",  # read the request, never answer
    "stall_body",  # the head and part of the body, then nothing
    "garbage",  # bytes that are not HTTP at all
    "bad_status_line",  # an HTTP/1.1 status line whose code is not a number
    "too_many_headers",  # a head with 500 header lines
    "huge_head",  # a head of 1 MiB in one header
    "oversized_body",  # a 200 one byte over the proxy's default max_response_bytes
    "error_500",  # ElastiCache's own 500 InternalFailure
    "error_503",  # ElastiCache's own 503 ServiceUnavailable
    "raw",  # the bytes in `raw_answer`
)

MAX_REQUEST_HEAD = 64 * 1024
OVERSIZED_ANSWER = 16 << 20  # the proxy's default upstream.max_response_bytes
# How long a stalled or idle connection is kept at most, so that a proxy
# that never gives up cannot hang the test run.
MAX_HOLD_SECONDS = 60.0
# Reads wake this often to see whether the test is over.
READ_POLL_SECONDS = 0.1


@dataclass
class Arrival:
    """One request that reached the upstream in full."""

    mode: str
    action: str | None
    params: dict[str, str]
    signature_ok: bool
    signature_problems: list[str]
    request_id: str  # the id the upstream answered (or would have answered) with


def error_body(status: int, request_id: str) -> bytes:
    """What ElastiCache answers on its own 500 or 503."""
    if status == 500:
        return _error_xml("InternalFailure", "An internal error has occurred.", request_id, "Receiver")
    return _error_xml("ServiceUnavailable", "The service is unavailable. Please try again shortly.", request_id, "Receiver")


class FaultUpstream(LoopbackServer):
    """Start with start() (or `with`); set `mode` (one of MODES) and `delay` at any time."""

    def __init__(self, access_key: str, secret_key: str, port: int = 0, mode: str = "normal", delay: float = 0.0):
        assert mode in MODES, mode
        self.access_key = access_key
        self.secret_key = secret_key
        self.mode = mode
        self.delay = delay
        self.raw_answer = b""
        self._port = port
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._accepted = 0
        self._held = 0  # connections in a stall or waiting for a request
        self._stalled = 0  # connections stalled by stall_head / stall_body
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # ---- lifecycle -------------------------------------------------------
    def start(self) -> "FaultUpstream":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._port))
        listener.listen(128)
        listener.settimeout(0.05)
        self._listener = listener
        self._port = listener.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, name="fault-upstream", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    @property
    def port(self) -> int:
        return self._port

    # ---- what the tests read -------------------------------------------------
    @property
    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    @property
    def accepted(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._accepted

    @property
    def stalled(self) -> int:
        """Stalled connections the proxy has not closed yet."""
        with self._lock:
            return self._stalled

    # ---- serving -------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return
            with self._lock:
                self._accepted += 1
            if self.mode == "close_on_accept":
                conn.close()
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(READ_POLL_SECONDS)
        buffer = bytearray()
        try:
            while not self._stop.is_set():
                request = self._read_request(conn, buffer)
                if request is None:
                    return
                if not self._answer(conn, *request):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _wait_for_peer_close(self, conn: socket.socket) -> None:
        """Holds the connection until the proxy closes it (or the test ends)."""
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if not conn.recv(4096):
                    return
            except socket.timeout:
                continue
            except OSError:
                return

    def _read_request(self, conn: socket.socket, buffer: bytearray):
        """(head lines, body) of the next request, or None when the peer
        closed the connection or the test is over."""
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > MAX_REQUEST_HEAD or not self._receive(conn, buffer, deadline):
                return None
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
        length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
        body = bytearray(rest)
        while len(body) < length:
            if not self._receive(conn, body, deadline):
                return None
        buffer[:] = body[length:]
        return lines[0], headers, bytes(body[:length])

    def _receive(self, conn: socket.socket, into: bytearray, deadline: float) -> bool:
        """Appends what the peer sends next (nothing on a socket timeout);
        False when it closed, the deadline passed or the test is over."""
        if self._stop.is_set() or time.monotonic() > deadline:
            return False
        try:
            data = conn.recv(65536)
        except socket.timeout:
            return True
        into += data
        return bool(data)

    def _answer(self, conn: socket.socket, request_line: str, headers, body: bytes) -> bool:
        """Answers one request as the current mode says; False when the
        connection is done."""
        mode = self.mode
        method, target, _ = request_line.split(" ", 2)
        ok, problems, info = verify_sigv4(
            method=method,
            target=target,
            headers=list(headers),
            body=body,
            access_key=self.access_key,
            secret_key=self.secret_key,
            expected_host=self.host_header,
        )
        params = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        request_id = str(uuid.uuid4())
        with self._lock:
            self._arrivals.append(Arrival(mode, params.get("Action"), params, ok, problems, request_id))

        if mode in ("normal", "slow"):
            if mode == "slow":
                time.sleep(self.delay)
            _send(conn, _response(200, self._success_body(params, info["region"] or "us-east-1", request_id), request_id))
            return True
        if mode in ("error_500", "error_503"):
            status = int(mode[-3:])
            _send(conn, _response(status, error_body(status, request_id), request_id))
            return True
        if mode == "close_after_request":
            return False
        full = _response(200, self._success_body(params, "us-east-1", request_id), request_id)
        head_end = full.index(b"\r\n\r\n") + 4
        if mode == "reset_in_head":
            _send(conn, full[: head_end // 2])
            _reset(conn)
            return False
        if mode == "reset_mid_body":
            _send(conn, full[: head_end + (len(full) - head_end) // 2])
            _reset(conn)
            return False
        if mode in ("stall_head", "stall_body"):
            if mode == "stall_body":
                _send(conn, full[: head_end + 10])
            with self._lock:
                self._stalled += 1
            try:
                self._wait_for_peer_close(conn)
            finally:
                with self._lock:
                    self._stalled -= 1
            return False
        if mode == "garbage":
            _send(conn, b"\x00\x17\x03\xffSSH-2.0-definitely-not-http\r\n\r\n")
        elif mode == "bad_status_line":
            _send(conn, b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n")
        elif mode == "too_many_headers":
            filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"f" * 40) for i in range(500))
            _send(conn, b"HTTP/1.1 200 OK\r\n" + filler + b"Content-Length: 0\r\n\r\n")
        elif mode == "oversized_body":
            _send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (OVERSIZED_ANSWER + 1))
            _send(conn, b"x" * (OVERSIZED_ANSWER + 1))
        elif mode == "raw":
            _send(conn, self.raw_answer)
        elif mode == "huge_head":
            _send(conn, b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * (1 << 20) + b"\r\nContent-Length: 0\r\n\r\n")
        else:
            raise AssertionError(f"unknown mode {mode!r}")
        # Serve on: a proxy that keeps the connection gets its next request
        # answered as the mode then in force says.
        return True

    @staticmethod
    def _success_body(params: dict[str, str], region: str, request_id: str) -> bytes:
        action = params.get("Action") or ""
        if action == "AuthorizeCacheSecurityGroupIngress":
            return authorize_ingress_xml(params, region, request_id)
        if action == "DescribeCacheClusters":
            return describe_cache_clusters_xml(region, request_id)
        return generic_action_xml(action, request_id)


def _response(status: int, body: bytes, request_id: str) -> bytes:
    reason = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"x-amzn-RequestId: {request_id}\r\n"
        "Content-Type: text/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}\r\n"
        "\r\n"
    )
    return head.encode() + body


def _send(conn: socket.socket, data: bytes) -> None:
    """Sends it all: the short timeout for reads would bound the whole
    send, too short for the 16 MiB answers on a busy machine."""
    conn.settimeout(MAX_HOLD_SECONDS)
    try:
        conn.sendall(data)
    finally:
        conn.settimeout(READ_POLL_SECONDS)


def _reset(conn: socket.socket) -> None:
    """Closes with RST instead of FIN: SO_LINGER on, with a zero timeout."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
