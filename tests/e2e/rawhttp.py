"""A tiny raw-socket HTTP/1.1 client for attacks on the wire.

It sends exactly the bytes it is given (in one write, or split into several
writes), and reads back one or several responses, parsed strictly enough to
notice when a server answers something that is not HTTP: status line,
headers (in order, original case), and a body framed by Content-Length,
chunked encoding, or the end of the connection. Interim 1xx responses
(`100 Continue`) are returned like any other response, so a test can see
whether one was sent. Every read is bounded by a deadline; nothing blocks
longer than the timeout given.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

DEFAULT_TIMEOUT = 5.0
MAX_HEAD = 256 * 1024
MAX_BODY = 16 * 1024 * 1024


class ProtocolError(AssertionError):
    """The server answered bytes that are not an HTTP/1.x response."""


@dataclass
class Response:
    version: str  # "HTTP/1.1"
    status: int
    reason: str
    headers: list[tuple[str, str]]  # in order, original case
    body: bytes
    raw_head: bytes

    def header(self, name: str) -> str | None:
        """The only value of a header (case-insensitive), or None; fails if
        the header appears more than once."""
        values = self.header_values(name)
        assert len(values) <= 1, f"header {name} appears {len(values)} times: {self.headers}"
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def interim(self) -> bool:
        return 100 <= self.status < 200

    def __repr__(self) -> str:
        return (
            f"Response({self.version} {self.status} {self.reason!r}, "
            f"headers={self.headers}, body={self.body[:300]!r})"
        )


class Connection:
    """One TCP connection to 127.0.0.1:port. Use as a context manager."""

    def __init__(self, port: int, timeout: float = DEFAULT_TIMEOUT, host: str = "127.0.0.1"):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""
        self._eof = False

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- sending -------------------------------------------------------------
    def send(self, data: bytes) -> bool:
        """Sends all of `data` in one write. Returns False when the server
        had already closed the connection (a reset or broken pipe)."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def send_parts(self, parts: list[bytes], pause: float = 0.05) -> bool:
        """Sends each part in its own write, pausing in between so that the
        server sees them as separate reads."""
        for i, part in enumerate(parts):
            if i:
                time.sleep(pause)
            if not self.send(part):
                return False
        return True

    def shutdown_write(self) -> None:
        """Half-closes: the server reads EOF, the client can still read."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # ---- reading -------------------------------------------------------------
    def _fill(self, deadline: float) -> bool:
        """Reads more bytes into the buffer; False at EOF (or reset)."""
        if self._eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete response within {self.timeout}s; got so far {self._buf[:500]!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout as err:
            raise TimeoutError(f"no complete response within {self.timeout}s; got so far {self._buf[:500]!r}") from err
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _read_until(self, marker: bytes, deadline: float, limit: int) -> bytes | None:
        while True:
            index = self._buf.find(marker)
            if index >= 0:
                out, self._buf = self._buf[: index + len(marker)], self._buf[index + len(marker) :]
                return out
            if len(self._buf) > limit:
                raise ProtocolError(f"no {marker!r} within {limit} bytes: {self._buf[:500]!r}")
            if not self._fill(deadline):
                return None

    def _read_exactly(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            if not self._fill(deadline):
                raise ProtocolError(f"connection closed after {len(self._buf)} of {n} body bytes")
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read_response(self, method: str = "POST") -> Response | None:
        """Reads the next response (interim ones included). None when the
        server closed the connection before sending any byte of one."""
        deadline = time.monotonic() + self.timeout
        head = self._read_until(b"\r\n\r\n", deadline, MAX_HEAD)
        if head is None:
            if self._buf:
                raise ProtocolError(f"connection closed inside a response head: {self._buf[:500]!r}")
            return None
        lines = head[:-4].split(b"\r\n")
        status_line = lines[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
            raise ProtocolError(f"not an HTTP/1.x status line: {status_line!r}")
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
                raise ProtocolError(f"malformed response header line {line!r}")
            headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
        response = Response(version, status, reason, headers, b"", head)
        response.body = self._read_body(response, method, deadline)
        return response

    def _read_body(self, response: Response, method: str, deadline: float) -> bytes:
        if response.interim or response.status in (204, 304) or method == "HEAD":
            return b""
        te = response.header_values("Transfer-Encoding")
        if te:
            if [v.lower() for v in te] != ["chunked"]:
                raise ProtocolError(f"unexpected response Transfer-Encoding {te}")
            return self._read_chunked(deadline)
        lengths = response.header_values("Content-Length")
        if lengths:
            if len(lengths) != 1 or not lengths[0].isdigit():
                raise ProtocolError(f"bad response Content-Length {lengths}")
            length = int(lengths[0])
            if length > MAX_BODY:
                raise ProtocolError(f"response body of {length} bytes is larger than {MAX_BODY}")
            return self._read_exactly(length, deadline)
        # Neither: the body runs to the end of the connection.
        while self._fill(deadline):
            if len(self._buf) > MAX_BODY:
                raise ProtocolError("response body without length is too large")
        out, self._buf = self._buf, b""
        return out

    def _read_chunked(self, deadline: float) -> bytes:
        body = b""
        while True:
            line = self._read_until(b"\r\n", deadline, 1024)
            if line is None:
                raise ProtocolError("connection closed inside a chunked response")
            size = int(line[:-2].split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    trailer = self._read_until(b"\r\n", deadline, 8192)
                    if trailer is None:
                        raise ProtocolError("connection closed inside the response trailers")
                    if trailer == b"\r\n":
                        return body
            body += self._read_exactly(size, deadline)
            if self._read_exactly(2, deadline) != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")

    def read_final(self, method: str = "POST") -> tuple[list[Response], Response | None]:
        """Reads interim responses up to the final one: (interims, final)."""
        interims: list[Response] = []
        while True:
            response = self.read_response(method)
            if response is None or not response.interim:
                return interims, response
            interims.append(response)

    def read_responses(self, count: int) -> list[Response]:
        """Reads up to `count` final responses (interim ones skipped); fewer
        when the server closes the connection first."""
        out: list[Response] = []
        while len(out) < count:
            _, response = self.read_final()
            if response is None:
                break
            out.append(response)
        return out

    def closed_by_peer(self, timeout: float | None = None) -> bool:
        """Whether the server closes the connection (EOF or reset) within
        `timeout`, with no further bytes. Fails if it sends more bytes."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while self._fill(deadline):
                pass
        except TimeoutError:
            if self._buf:
                raise ProtocolError(f"unexpected bytes after the last response: {self._buf[:500]!r}")
            return False
        if self._buf:
            raise ProtocolError(f"unexpected bytes after the last response: {self._buf[:500]!r}")
        return True


def exchange(
    port: int, data: bytes | list[bytes], count: int = 1, timeout: float = DEFAULT_TIMEOUT
) -> tuple[list[Response], bool]:
    """Sends `data` (one write, or several when a list) on a fresh
    connection, reads up to `count` final responses, then reports whether
    the server closed the connection: (responses, closed)."""
    with Connection(port, timeout) as conn:
        if isinstance(data, list):
            conn.send_parts(data)
        else:
            conn.send(data)
        responses = conn.read_responses(count)
        closed = conn.closed_by_peer(timeout=1.0 if len(responses) == count else timeout)
        return responses, closed


def request_bytes(
    method: str = "POST",
    target: str | bytes = "/",
    headers: list[tuple[str | bytes, str | bytes]] | None = None,
    body: bytes | str = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    """One request, headers written exactly as given (no Host or
    Content-Length added)."""

    def b(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("latin-1")

    lines = [b(method) + b" " + b(target) + b" " + b(version)]
    lines += [b(k) + b": " + b(v) for k, v in headers or []]
    return b"\r\n".join(lines) + b"\r\n\r\n" + b(body)


def chunked(*chunks: bytes, trailers: bytes = b"", extensions: bytes = b"") -> bytes:
    """A chunked body: each chunk with `extensions` on its size line, then
    the last chunk and `trailers` (raw header lines, CRLF-terminated)."""
    out = b"".join(b"%x%s\r\n%s\r\n" % (len(c), extensions, c) for c in chunks if c)
    return out + b"0\r\n" + trailers + b"\r\n"
