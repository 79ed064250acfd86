"""Constants and small helpers shared by the end-to-end tests."""

from __future__ import annotations

import http.client
import json
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.message import Message
from urllib.parse import quote

from harness.aws import sigv4_headers

API_VERSION = "2015-02-02"
XMLNS = f"http://elasticache.amazonaws.com/doc/{API_VERSION}/"
NS = {"ec": XMLNS}

# The proxy's own upstream identity (what the fake upstream verifies against).
PROXY_ACCESS_KEY = "AKIDPROXYTEST0000001"
PROXY_SECRET_KEY = "proxy/Test+Secret/0123456789abcdefghijklmnopq"
# The caller's keys. The proxy does not verify them yet, but they must never
# be what reaches the upstream.
CALLER_ACCESS_KEY = "AKIDCALLERTEST000001"
CALLER_SECRET_KEY = "caller/Test+Secret/0123456789abcdefghijklmn"

# A hand-made caller signature for raw HTTP tests: a valid shape, a dummy value.
RAW_AMZ_DATE = "20261125T050916Z"


def raw_authorization(
    region: str = "us-east-1", service: str = "elasticache", access_key: str = CALLER_ACCESS_KEY
) -> str:
    """A caller Authorization header with a dummy signature (64 hex zeros)."""
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{RAW_AMZ_DATE[:8]}/{region}/{service}/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
    )


TEST_POLICY = """\
rules:
  - id: prod-app-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    regions: [us-east-1, eu-west-1]
    owner_ids: ["123456781234"]
    cache_security_groups: ["prod-[a-z0-9-]+"]
    ec2_security_groups: ["app-[a-z0-9-]+"]
    message: "production ingress is limited to app-* groups of account 123456781234"
  - id: describe-anything-us-east-1
    effect: allow
    actions: ["Describe*"]
    regions: [us-east-1]
  - id: no-legacy-group
    effect: deny
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["prod-legacy"]
"""

# The parameters of an ingress request the test policy allows.
ALLOWED_INGRESS = {
    "CacheSecurityGroupName": "prod-web",
    "EC2SecurityGroupName": "app-frontend",
    "EC2SecurityGroupOwnerId": "123456781234",
}


def form_encode(pairs) -> str:
    """Form-encodes (name, value) pairs the way SDKs do (RFC 3986 unreserved
    characters kept, everything else percent-encoded)."""
    if isinstance(pairs, dict):
        pairs = list(pairs.items())
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def ingress_pairs(**overrides) -> list[tuple[str, str]]:
    """Action, Version and the allowed ingress parameters; an override of None
    leaves that parameter out."""
    params = {
        "Action": "AuthorizeCacheSecurityGroupIngress",
        "Version": API_VERSION,
        **ALLOWED_INGRESS,
    }
    params.update(overrides)
    return [(k, v) for k, v in params.items() if v is not None]


@dataclass
class RawResponse:
    status: int
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def send_raw(
    port: int,
    method: str = "POST",
    target: str = "/",
    *,
    body: bytes | str | None = None,
    chunks: list[bytes] | None = None,
    headers: list[tuple[str, str]] | None = None,
    content_type: str | None = "application/x-www-form-urlencoded; charset=utf-8",
    authorization: str | None = "default",
    amz_date: str | None = RAW_AMZ_DATE,
    timeout: float = 15.0,
) -> RawResponse:
    """Sends one hand-made HTTP/1.1 request to 127.0.0.1:port and reads the
    answer. `body` goes with a Content-Length; `chunks` are sent with
    Transfer-Encoding: chunked. Headers are written exactly as given."""
    if isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if authorization == "default":
        authorization = raw_authorization()
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    if amz_date is not None:
        lines.append(f"X-Amz-Date: {amz_date}")
    if content_type is not None and (body is not None or chunks is not None):
        lines.append(f"Content-Type: {content_type}")
    for key, value in headers or []:
        lines.append(f"{key}: {value}")
    if chunks is not None:
        lines.append("Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
    elif body is not None:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    else:
        payload = b""
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            sock.sendall(head + payload)
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (e.g. 413) and close before reading it all.
            pass
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        data = response.read()
        return RawResponse(response.status, response.msg, data)
    finally:
        sock.close()


@dataclass
class ApiError:
    type: str
    code: str
    message: str
    request_id: str


def parse_error_xml(body: bytes) -> ApiError:
    """Parses an ElastiCache ErrorResponse (well-formedness included)."""
    root = ET.fromstring(body)
    assert root.tag == f"{{{XMLNS}}}ErrorResponse", f"not an ErrorResponse: {body!r}"
    error = root.find("ec:Error", NS)
    assert error is not None, body

    def text(parent, name):
        node = parent.find(f"ec:{name}", NS)
        assert node is not None, f"no <{name}> in {body!r}"
        return node.text or ""

    return ApiError(
        type=text(error, "Type"),
        code=text(error, "Code"),
        message=text(error, "Message"),
        request_id=text(root, "RequestId"),
    )


def assert_ingress_authorized(result) -> None:
    """boto3's answer to the allowed ingress call, as the fake upstream
    gives it: the group, its owner and the EC2 group being authorized."""
    group = result["CacheSecurityGroup"]
    assert group["CacheSecurityGroupName"] == "prod-web"
    assert group["OwnerId"] == "210987654321"
    assert group["EC2SecurityGroups"] == [
        {"Status": "authorizing", "EC2SecurityGroupName": "app-frontend", "EC2SecurityGroupOwnerId": "123456781234"}
    ]


def client_error(raised) -> tuple[int, str, str]:
    """The HTTP status, code and message of the ClientError pytest caught."""
    response = raised.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def assert_api_error(resp: RawResponse, status: int, code: str, error_type: str = "Sender") -> ApiError:
    """Checks a proxy rejection: status, text/xml, the code and type, and the
    same non-empty request id in the x-amzn-RequestId header and the body."""
    assert resp.status == status, f"expected {status} {code}, got {resp.status}: {resp.body[:2000]!r}"
    content_type = resp.header("Content-Type") or ""
    assert content_type.split(";")[0].strip() == "text/xml", f"Content-Type {content_type!r}"
    err = parse_error_xml(resp.body)
    assert err.code == code, f"expected code {code}, got {err.code}: {err.message}"
    assert err.type == error_type, f"expected type {error_type}, got {err.type}"
    header_id = resp.header("x-amzn-RequestId")
    assert header_id, f"no x-amzn-RequestId header: {dict(resp.headers)}"
    assert err.request_id == header_id, f"body RequestId {err.request_id!r} != header {header_id!r}"
    return err


def botocore_signed(
    port: int,
    method: str,
    target: str,
    body: bytes,
    content_type: str | None,
    credentials: tuple[str, str],
    region: str = "us-east-1",
) -> dict[str, str]:
    """The headers botocore's SigV4 signer gives a request to 127.0.0.1:port
    (Authorization and X-Amz-Date among them), signed with
    `credentials` = (access key, secret key)."""
    url = f"http://127.0.0.1:{port}{target}"
    return sigv4_headers(url, body, credentials, method=method, content_type=content_type, region=region)


def sign_raw(
    port: int,
    body: str,
    access_key: str = CALLER_ACCESS_KEY,
    secret_key: str = CALLER_SECRET_KEY,
    region: str = "us-east-1",
) -> tuple[str, str]:
    """A real SigV4 signature (botocore's) for a form POST of `body` to
    127.0.0.1:port, as send_raw sends it: (Authorization, X-Amz-Date)."""
    form = "application/x-www-form-urlencoded; charset=utf-8"
    headers = botocore_signed(port, "POST", "/", body.encode(), form, (access_key, secret_key), region)
    return headers["Authorization"], headers["X-Amz-Date"]


def capture_signatures(client, into: list[str]) -> None:
    """Appends the SigV4 signature of every request `client` sends to
    `into`, so a test can check that none of them is ever logged."""

    def capture(request, **_):
        value = request.headers.get("Authorization")
        value = value.decode() if isinstance(value, bytes) else value
        into.append(value.rsplit("Signature=", 1)[1])

    client.meta.events.register("before-send.elasticache", capture)


def json_lines(text: str) -> list[dict]:
    """The JSON objects of a log, one a line (other lines are skipped)."""
    records = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records
