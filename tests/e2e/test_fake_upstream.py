"""Tests of the fake upstream itself: its signature check must accept what
botocore signs with the proxy's keys and must fail on everything else, or the
proxy tests prove nothing."""

from __future__ import annotations

import datetime as dt
import http.client
import xml.etree.ElementTree as ET

import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support import (
    ALLOWED_INGRESS,
    assert_ingress_authorized,
    NS,
    PROXY_ACCESS_KEY,
    PROXY_SECRET_KEY,
    form_encode,
    ingress_pairs,
    parse_error_xml,
)

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def signed_request(
    upstream,
    body: bytes,
    *,
    region: str = "us-east-1",
    service: str = "elasticache",
    access_key: str = PROXY_ACCESS_KEY,
    secret_key: str = PROXY_SECRET_KEY,
    timestamp: dt.datetime | None = None,
    host: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> AWSRequest:
    """A POST signed by botocore's SigV4Auth, as an SDK would sign it."""
    request = AWSRequest(
        method="POST",
        url=f"http://{host or upstream.host_header}/",
        data=body,
        headers={"Content-Type": FORM, **(extra_headers or {})},
    )
    signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
    if timestamp is None:
        signer.add_auth(request)
    else:
        # add_auth, with a fixed time instead of now.
        request.context["timestamp"] = timestamp.strftime("%Y%m%dT%H%M%SZ")
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        signer._inject_signature_to_request(request, signature)
    return request


def send(upstream, request: AWSRequest, body: bytes | None = None, chunked: bool = False, host: str | None = None):
    """Sends the signed request's headers with `body` (default: the signed one)."""
    body = request.body if body is None else body
    conn = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=10)
    try:
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or upstream.host_header)
        for key, value in request.headers.items():
            conn.putheader(key, value)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for i in range(0, len(body), 7):
                piece = body[i : i + 7]
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        else:
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


INGRESS_BODY = form_encode(ingress_pairs()).encode()


def test_accepts_a_request_signed_by_botocore_with_the_proxy_keys(upstream):
    status, headers, body = send(upstream, signed_request(upstream, INGRESS_BODY))
    assert status == 200, body
    [rec] = upstream.requests
    assert rec.signature_ok, rec.signature_problems
    assert rec.region == "us-east-1"
    assert rec.access_key == PROXY_ACCESS_KEY
    assert {"host", "x-amz-date"} <= set(rec.signed_headers)
    assert rec.params == {"Action": "AuthorizeCacheSecurityGroupIngress", "Version": "2015-02-02", **ALLOWED_INGRESS}
    assert headers["Content-Type"] == "text/xml"
    root = ET.fromstring(body)
    assert root.find("ec:ResponseMetadata/ec:RequestId", NS).text == headers["x-amzn-RequestId"]
    group = root.find("ec:AuthorizeCacheSecurityGroupIngressResult/ec:CacheSecurityGroup", NS)
    assert group.find("ec:CacheSecurityGroupName", NS).text == "prod-web"
    ec2 = group.find("ec:EC2SecurityGroups/ec:EC2SecurityGroup", NS)
    assert ec2.find("ec:EC2SecurityGroupName", NS).text == "app-frontend"
    assert ec2.find("ec:EC2SecurityGroupOwnerId", NS).text == "123456781234"
    assert ec2.find("ec:Status", NS).text == "authorizing"


def test_accepts_a_signed_chunked_body(upstream):
    status, _, body = send(upstream, signed_request(upstream, INGRESS_BODY), chunked=True)
    assert status == 200, body
    [rec] = upstream.requests
    assert rec.signature_ok, rec.signature_problems
    assert rec.body == INGRESS_BODY


def assert_rejected(upstream, status, body, fragment: str):
    assert status == 403, body
    err = parse_error_xml(body)
    assert err.code == "SignatureDoesNotMatch"
    [rec] = upstream.requests
    assert rec.signature_ok is False
    problems = "\n".join(rec.signature_problems)
    assert fragment in problems, problems


def test_flags_a_tampered_body(upstream):
    request = signed_request(upstream, INGRESS_BODY)
    tampered = INGRESS_BODY.replace(b"123456781234", b"999999999999")
    assert len(tampered) == len(INGRESS_BODY)
    status, _, body = send(upstream, request, body=tampered)
    assert_rejected(upstream, status, body, "signature mismatch")
    assert upstream.requests[0].params["EC2SecurityGroupOwnerId"] == "999999999999"


def test_flags_a_wrong_secret(upstream):
    request = signed_request(upstream, INGRESS_BODY, secret_key=PROXY_SECRET_KEY + "x")
    status, _, body = send(upstream, request)
    assert_rejected(upstream, status, body, "signature mismatch")


def test_flags_another_access_key(upstream):
    request = signed_request(upstream, INGRESS_BODY, access_key="AKIDCALLERTEST000001")
    status, _, body = send(upstream, request)
    assert_rejected(upstream, status, body, "expected the proxy's")
    assert upstream.requests[0].access_key == "AKIDCALLERTEST000001"


def test_flags_another_service_in_the_scope(upstream):
    status, _, body = send(upstream, signed_request(upstream, INGRESS_BODY, service="ec2"))
    assert_rejected(upstream, status, body, "service is 'ec2'")


def test_flags_an_unexpected_region(upstream):
    upstream.expected_region = "us-east-1"
    status, _, body = send(upstream, signed_request(upstream, INGRESS_BODY, region="eu-west-1"))
    assert_rejected(upstream, status, body, "expected 'us-east-1'")
    assert upstream.requests[0].region == "eu-west-1"


def test_flags_a_signature_for_another_host(upstream):
    # Signed for another host and sent with that Host header.
    other = "127.0.0.1:1"
    request = signed_request(upstream, INGRESS_BODY, host=other)
    status, _, body = send(upstream, request, host=other)
    assert_rejected(upstream, status, body, "Host header is")


def test_flags_a_host_header_that_differs_from_the_signed_one(upstream):
    request = signed_request(upstream, INGRESS_BODY)
    status, _, body = send(upstream, request, host="localhost:%d" % upstream.port)
    assert_rejected(upstream, status, body, "signature mismatch")


def test_flags_a_tampered_signed_header(upstream):
    request = signed_request(upstream, INGRESS_BODY, extra_headers={"X-Amz-Target-Note": "one"})
    assert "x-amz-target-note" in request.headers["Authorization"]
    request.headers.replace_header("X-Amz-Target-Note", "two")
    status, _, body = send(upstream, request)
    assert_rejected(upstream, status, body, "signature mismatch")


def test_flags_a_stale_timestamp(upstream):
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    status, _, body = send(upstream, signed_request(upstream, INGRESS_BODY, timestamp=old))
    assert_rejected(upstream, status, body, "more than 15 minutes")


def test_flags_a_missing_authorization(upstream):
    request = signed_request(upstream, INGRESS_BODY)
    del request.headers["Authorization"]
    status, _, body = send(upstream, request)
    assert_rejected(upstream, status, body, "expected one Authorization header")


@pytest.fixture
def direct_client(make_client, upstream):
    """boto3 with the proxy's own keys, straight to the fake upstream."""

    def make(secret_key=PROXY_SECRET_KEY, region="us-east-1"):
        return make_client(upstream.endpoint, region=region, access_key=PROXY_ACCESS_KEY, secret_key=secret_key)

    return make


def test_botocore_parses_the_fake_answers(direct_client, upstream):
    client = direct_client(region="eu-west-1")
    result = client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    assert_ingress_authorized(result)
    assert result["ResponseMetadata"]["RequestId"] == result["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

    clusters = client.describe_cache_clusters()["CacheClusters"]
    assert [c["CacheClusterId"] for c in clusters] == ["fake-cluster-1"]
    assert clusters[0]["PreferredAvailabilityZone"] == "eu-west-1a"

    result = client.reboot_cache_cluster(CacheClusterId="fake-cluster-1", CacheNodeIdsToReboot=["0001"])
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200

    assert len(upstream.requests) == 3
    assert all(r.signature_ok and r.region == "eu-west-1" for r in upstream.requests)


def test_botocore_sees_a_bad_signature_as_an_error(direct_client, upstream):
    client = direct_client(secret_key="not-the-proxy-secret")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.describe_cache_clusters()
    assert raised.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    [rec] = upstream.requests
    assert not rec.signature_ok


def test_overrides_answer_an_action(direct_client, upstream):
    upstream.override(
        "DescribeCacheClusters",
        404,
        '<ErrorResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><Error><Type>Sender</Type>'
        "<Code>CacheClusterNotFound</Code><Message>nope</Message></Error><RequestId>r-1</RequestId></ErrorResponse>",
        headers=[("x-amzn-RequestId", "r-1"), ("X-Fake-Marker", "m")],
    )
    client = direct_client()
    with pytest.raises(client.exceptions.CacheClusterNotFoundFault) as raised:
        client.describe_cache_clusters(CacheClusterId="x")
    assert raised.value.response["ResponseMetadata"]["HTTPHeaders"]["x-fake-marker"] == "m"
    upstream.reset()
    assert upstream.requests == []
    assert client.describe_cache_clusters()["CacheClusters"]
