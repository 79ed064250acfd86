"""End-to-end tests: boto3, the aws CLI and hand-made HTTP requests talk to the
proxy binary, which forwards what its policy allows to the fake upstream."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions
import pytest

from conftest import proxy_env, require_proxy_binary, write_config
from harness.processes import free_port
from support import (
    ALLOWED_INGRESS,
    assert_ingress_authorized,
    API_VERSION,
    CALLER_ACCESS_KEY,
    CALLER_SECRET_KEY,
    PROXY_ACCESS_KEY,
    PROXY_SECRET_KEY,
    TEST_POLICY,
    assert_api_error,
    form_encode,
    ingress_pairs,
    raw_authorization,
    send_raw,
)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
INGRESS_ACTION = "AuthorizeCacheSecurityGroupIngress"


def expected_ingress_params(**overrides) -> dict[str, str]:
    return {"Action": INGRESS_ACTION, "Version": API_VERSION, **ALLOWED_INGRESS, **overrides}


def assert_forwarded_once(upstream, region: str, params: dict[str, str]):
    """The upstream saw exactly one request: the proxy's own, correctly
    signed for `region`, a canonical form POST to / with exactly `params`."""
    records = upstream.requests
    assert len(records) == 1, f"upstream saw {len(records)} requests: {records}"
    rec = records[0]
    assert rec.signature_ok, "\n".join(rec.signature_problems)
    assert rec.region == region
    assert rec.access_key == PROXY_ACCESS_KEY
    assert rec.method == "POST"
    assert rec.path == "/"
    assert rec.header("Content-Type") == FORM_CONTENT_TYPE
    assert not rec.form_problems, rec.form_problems
    assert len(rec.param_pairs) == len(rec.params), f"duplicate parameters: {rec.param_pairs}"
    assert rec.params == params
    # Nothing of the caller's identity reaches the upstream.
    for name, value in rec.headers:
        assert CALLER_ACCESS_KEY not in value, (name, value)
        assert "AKIDCALLER" not in value, (name, value)
    assert rec.header("X-Amz-Security-Token") is None
    return rec


def assert_boto_denial(raised, fragment: str):
    """A policy denial as boto3 sees it: 400, the id in body and header, and
    the message naming the failing value or rule."""
    response = raised.value.response
    assert response["Error"]["Code"] == "InvalidParameterCombination"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    request_id = response["ResponseMetadata"].get("RequestId")
    assert request_id, response
    assert response["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid") == request_id
    message = response["Error"]["Message"]
    fragments = (fragment,) if isinstance(fragment, str) else fragment
    assert any(f in message for f in fragments), f"none of {fragments} in {message!r}"
    return message


@pytest.fixture
def full_proxy(start_proxy):
    """A proxy whose denials tell the caller every near miss
    (`denial_detail: full`), so each failed value shows in the message."""
    return start_proxy(extra="denial_detail: full\n")


# ---- allowed calls -------------------------------------------------------------
def test_allowed_ingress_is_resigned_with_the_proxy_identity(client, upstream):
    result = client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    assert_ingress_authorized(result)
    rec = assert_forwarded_once(upstream, "us-east-1", expected_ingress_params())
    assert rec.header("Host") == upstream.host_header
    # The upstream's answer came back unchanged, its request id included.
    meta = result["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]
    assert meta["HTTPHeaders"]["server"].startswith("FakeElastiCache/")
    # SDK identification headers are passed on.
    assert (rec.header("User-Agent") or "").startswith("Boto3/")


def test_allowed_in_the_second_region_is_signed_for_that_region(make_client, proxy, upstream):
    client = make_client(proxy, region="eu-west-1")
    result = client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    assert result["CacheSecurityGroup"]["ARN"].startswith("arn:aws:elasticache:eu-west-1:")
    assert_forwarded_once(upstream, "eu-west-1", expected_ingress_params())


def test_dashed_owner_id_is_allowed_and_forwarded_as_12_digits(client, upstream):
    result = client.authorize_cache_security_group_ingress(
        **{**ALLOWED_INGRESS, "EC2SecurityGroupOwnerId": "1234-5678-1234"}
    )
    assert result["CacheSecurityGroup"]["EC2SecurityGroups"][0]["EC2SecurityGroupOwnerId"] == "123456781234"
    assert_forwarded_once(upstream, "us-east-1", expected_ingress_params(EC2SecurityGroupOwnerId="123456781234"))


def test_deny_rule_regex_is_anchored_too(client, upstream):
    # `prod-legacy` denies only that exact name; `prod-legacy-2` is a
    # production group the allow rule covers.
    client.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, "CacheSecurityGroupName": "prod-legacy-2"})
    assert_forwarded_once(upstream, "us-east-1", expected_ingress_params(CacheSecurityGroupName="prod-legacy-2"))


def test_caller_session_token_is_not_forwarded(make_client, proxy, upstream):
    client = make_client(proxy, session_token="CALLER-SESSION-TOKEN-0001")
    client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    rec = assert_forwarded_once(upstream, "us-east-1", expected_ingress_params())
    assert all("CALLER-SESSION-TOKEN-0001" not in v for _, v in rec.headers)


def test_describe_cache_clusters_is_allowed_in_us_east_1(client, upstream):
    result = client.describe_cache_clusters()
    assert [c["CacheClusterId"] for c in result["CacheClusters"]] == ["fake-cluster-1"]
    assert result["CacheClusters"][0]["PreferredAvailabilityZone"] == "us-east-1a"
    assert_forwarded_once(upstream, "us-east-1", {"Action": "DescribeCacheClusters", "Version": API_VERSION})


def test_describe_with_parameters_forwards_them(client, upstream):
    client.describe_cache_clusters(CacheClusterId="fake-cluster-1", ShowCacheNodeInfo=True, MaxRecords=20)
    assert_forwarded_once(
        upstream,
        "us-east-1",
        {
            "Action": "DescribeCacheClusters",
            "Version": API_VERSION,
            "CacheClusterId": "fake-cluster-1",
            "ShowCacheNodeInfo": "true",
            "MaxRecords": "20",
        },
    )


def test_upstream_errors_come_back_unchanged(client, proxy, upstream):
    error_body = (
        '<ErrorResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><Error><Type>Sender</Type>'
        "<Code>CacheSecurityGroupNotFound</Code><Message>CacheSecurityGroup prod-web not found.</Message>"
        "</Error><RequestId>upstream-req-1</RequestId></ErrorResponse>"
    )
    upstream.override(
        INGRESS_ACTION,
        404,
        error_body,
        headers=[("x-amzn-RequestId", "upstream-req-1"), ("X-Fake-Marker", "from-upstream")],
    )
    with pytest.raises(client.exceptions.CacheSecurityGroupNotFoundFault) as raised:
        client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    meta = raised.value.response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 404
    assert meta["RequestId"] == "upstream-req-1"
    assert meta["HTTPHeaders"]["x-fake-marker"] == "from-upstream"

    resp = send_raw(proxy.port, body=form_encode(ingress_pairs()))
    assert resp.status == 404
    assert resp.body == error_body.encode()
    assert resp.header("X-Fake-Marker") == "from-upstream"
    assert resp.header("x-amzn-RequestId") == "upstream-req-1"
    assert len(upstream.requests) == 2
    assert all(r.signature_ok for r in upstream.requests)


def test_concurrent_allowed_calls_are_all_forwarded(make_client, proxy, upstream):
    client = make_client(proxy)
    names = [f"prod-web-{i}" for i in range(16)]

    def call(name):
        return client.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, "CacheSecurityGroupName": name})

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, names))
    assert [r["CacheSecurityGroup"]["CacheSecurityGroupName"] for r in results] == names
    records = upstream.requests
    assert sorted(r.params["CacheSecurityGroupName"] for r in records) == sorted(names)
    assert all(r.signature_ok and r.access_key == PROXY_ACCESS_KEY for r in records)


def test_secrets_and_signatures_stay_out_of_the_log(make_client, proxy, upstream):
    client = make_client(proxy, session_token="CALLER-SESSION-TOKEN-0002")
    client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException):
        client.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, "CacheSecurityGroupName": "dev-web"})
    [rec] = upstream.requests
    upstream_signature = rec.header("Authorization").rsplit("Signature=", 1)[1]
    assert len(proxy.audit_records()) == 2, proxy.audit_text()
    log = proxy.stderr() + proxy.audit_text()
    for secret in (PROXY_SECRET_KEY, CALLER_SECRET_KEY, "CALLER-SESSION-TOKEN-0002", upstream_signature):
        assert secret not in log


# ---- the aws CLI ---------------------------------------------------------------
INGRESS_CLI_ARGS = (
    "authorize-cache-security-group-ingress",
    "--cache-security-group-name",
    "prod-web",
    "--ec2-security-group-name",
    "app-frontend",
)


def test_cli_allowed_ingress(run_aws, proxy, upstream):
    done = run_aws(proxy, *INGRESS_CLI_ARGS, "--ec2-security-group-owner-id", "123456781234")
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert output["CacheSecurityGroup"]["CacheSecurityGroupName"] == "prod-web"
    assert output["CacheSecurityGroup"]["EC2SecurityGroups"][0] == {
        "Status": "authorizing",
        "EC2SecurityGroupName": "app-frontend",
        "EC2SecurityGroupOwnerId": "123456781234",
    }
    assert_forwarded_once(upstream, "us-east-1", expected_ingress_params())


@pytest.mark.parametrize(
    "owner, region, fragment",
    [
        ("999999999999", "us-east-1", "999999999999"),
        ("123456781234", "us-west-2", "us-west-2"),
    ],
    ids=["owner-id", "region"],
)
def test_cli_denied_ingress(run_aws, full_proxy, upstream, owner, region, fragment):
    done = run_aws(full_proxy, *INGRESS_CLI_ARGS, "--ec2-security-group-owner-id", owner, region=region)
    assert done.returncode != 0, done.stdout
    assert "InvalidParameterCombination" in done.stderr
    assert fragment in done.stderr
    assert upstream.requests == []


# ---- policy denials through boto3 --------------------------------------------
DENIALS = [
    # (overrides, region, fragment the message must contain)
    pytest.param({"EC2SecurityGroupOwnerId": "999999999999"}, "us-east-1", "999999999999", id="owner-id"),
    pytest.param({"EC2SecurityGroupOwnerId": "9999-9999-9999"}, "us-east-1", ("999999999999", "9999-9999-9999"), id="dashed-owner-id"),
    pytest.param({}, "us-west-2", "us-west-2", id="region"),
    pytest.param({"CacheSecurityGroupName": "dev-web"}, "us-east-1", "dev-web", id="cache-group"),
    pytest.param({"EC2SecurityGroupName": "db-primary"}, "us-east-1", "db-primary", id="ec2-group"),
    pytest.param({"CacheSecurityGroupName": "prod-legacy"}, "us-east-1", "no-legacy-group", id="deny-rule"),
    pytest.param({"CacheSecurityGroupName": "prod-legacy"}, "eu-west-1", "no-legacy-group", id="deny-rule-eu"),
    # Regexes must match the whole name.
    # Decided on in the lower case ElastiCache stores it in.
    pytest.param({"CacheSecurityGroupName": "prod-web-EXTRA!"}, "us-east-1", "`prod-web-extra!`", id="cache-suffix"),
    pytest.param({"CacheSecurityGroupName": "xprod-web"}, "us-east-1", "xprod-web", id="cache-prefix"),
    pytest.param({"EC2SecurityGroupName": "app-frontend!"}, "us-east-1", "app-frontend!", id="ec2-suffix"),
    pytest.param({"EC2SecurityGroupName": "my-app-frontend"}, "us-east-1", "my-app-frontend", id="ec2-prefix"),
]


@pytest.mark.parametrize("overrides, region, fragment", DENIALS)
def test_policy_denies_ingress(make_client, full_proxy, upstream, overrides, region, fragment):
    client = make_client(full_proxy, region=region)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, **overrides})
    message = assert_boto_denial(raised, fragment)
    assert upstream.requests == [], "a denied request reached the upstream"
    # The audit line holds the same full explanation.
    [line] = full_proxy.audit_records()
    assert line["explanation"] == message


@pytest.mark.parametrize("overrides, region, fragment", DENIALS)
def test_by_default_the_caller_hears_only_what_concerns_it(make_client, proxy, upstream, overrides, region, fragment):
    client = make_client(proxy, region=region)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, **overrides})
    message = assert_boto_denial(raised, ("denied by policy rule", "not allowed by policy: no rule allows"))
    [line] = proxy.audit_records()
    fragments = (fragment,) if isinstance(fragment, str) else fragment
    assert any(f in line["explanation"] for f in fragments), line["explanation"]
    if message.startswith("not allowed"):
        # No other rule's id or condition: just who, what and where.
        assert message == f"not allowed by policy: no rule allows AuthorizeCacheSecurityGroupIngress by caller `local-test` in region `{region}`"
        assert "prod-app-ingress" in line["explanation"]
    assert upstream.requests == []


@pytest.mark.parametrize("name", ["prod-web\n", "prod-web\nprod-x", "\nprod-web"], ids=["nl-end", "nl-mid", "nl-start"])
def test_group_name_with_a_newline_is_never_forwarded(client, upstream, name):
    # `$`-style anchoring would let "prod-web\n" through; the proxy must deny
    # it (InvalidParameterCombination) or refuse it as malformed.
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, "CacheSecurityGroupName": name})
    code = raised.value.response["Error"]["Code"]
    assert code in ("InvalidParameterCombination", "MalformedQueryString", "InvalidParameterValue"), code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert upstream.requests == []


def test_describe_is_denied_in_eu_west_1(make_client, proxy, upstream):
    client = make_client(proxy, region="eu-west-1")
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.describe_cache_clusters()
    assert_boto_denial(raised, "eu-west-1")
    assert upstream.requests == []


def test_action_no_rule_names_is_denied(client, upstream):
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.delete_cache_cluster(CacheClusterId="fake-cluster-1")
    assert_boto_denial(raised, "DeleteCacheCluster")
    assert upstream.requests == []


def test_denial_message_is_escaped_xml(make_client, full_proxy, upstream):
    client = make_client(full_proxy)
    name = "a<b&c>"
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, "CacheSecurityGroupName": name})
    assert_boto_denial(raised, name)

    resp = send_raw(full_proxy.port, body=form_encode(ingress_pairs(CacheSecurityGroupName=name)))
    err = assert_api_error(resp, 400, "InvalidParameterCombination")  # parses the XML
    assert name in err.message
    assert b"a<b" not in resp.body
    assert upstream.requests == []


# ---- hand-made HTTP requests ----------------------------------------------------
def test_raw_post_with_unverified_caller_signature_is_forwarded(proxy, upstream):
    resp = send_raw(proxy.port, body=form_encode(ingress_pairs()))
    assert resp.status == 200, resp.body
    assert b"<CacheSecurityGroupName>prod-web</CacheSecurityGroupName>" in resp.body
    assert_forwarded_once(upstream, "us-east-1", expected_ingress_params())


def test_raw_post_with_any_access_key_id_is_served_by_the_trusted_sidecar(proxy, upstream):
    # `callers: none` verifies nothing, so a LocalStack-style key is no reason to refuse.
    resp = send_raw(proxy.port, body=form_encode(ingress_pairs()), authorization=raw_authorization(access_key="test"))
    assert resp.status == 200, resp.body
    assert len(upstream.requests) == 1
    # What cannot be a key at all is still malformed.
    resp = send_raw(proxy.port, body=form_encode(ingress_pairs()), authorization=raw_authorization(access_key=""))
    assert_api_error(resp, 400, "IncompleteSignature")
    assert len(upstream.requests) == 1


def test_raw_get_with_query_string_is_forwarded_as_a_signed_post(proxy, upstream):
    resp = send_raw(proxy.port, "GET", "/?" + form_encode(ingress_pairs(EC2SecurityGroupOwnerId="1234-5678-1234")))
    assert resp.status == 200, resp.body
    assert resp.header("Content-Type") == "text/xml"
    assert b"<AuthorizeCacheSecurityGroupIngressResponse" in resp.body
    assert_forwarded_once(upstream, "us-east-1", expected_ingress_params())


def test_raw_get_denied_by_policy(full_proxy, upstream):
    resp = send_raw(full_proxy.port, "GET", "/?" + form_encode(ingress_pairs(EC2SecurityGroupOwnerId="999999999999")))
    err = assert_api_error(resp, 400, "InvalidParameterCombination")
    assert "999999999999" in err.message
    assert upstream.requests == []


def test_raw_denial_in_region_from_credential_scope(proxy, upstream):
    resp = send_raw(proxy.port, body=form_encode(ingress_pairs()), authorization=raw_authorization("us-west-2"))
    err = assert_api_error(resp, 400, "InvalidParameterCombination")
    assert "us-west-2" in err.message
    assert upstream.requests == []


def _pairs_without(name):
    return [(k, v) for k, v in ingress_pairs() if k != name]


def _malformed(case_id: str, body: str | bytes, code: str):
    """A body the proxy answers with a 400 of this code."""
    return pytest.param(body, 400, code, id=case_id)


def _owner(value: str) -> str:
    return form_encode(ingress_pairs(EC2SecurityGroupOwnerId=value))


def _appended(name: str, value: str) -> str:
    return form_encode(ingress_pairs() + [(name, value)])


_INGRESS_BODY = form_encode(ingress_pairs())

MALFORMED_BODIES = [
    # (body, status, code)
    _malformed("no-action", form_encode(_pairs_without("Action")), "MissingAction"),
    _malformed("unknown-action", form_encode(ingress_pairs(Action="LaunchRockets")), "InvalidAction"),
    _malformed(
        "action-wrong-case", form_encode(ingress_pairs(Action="authorizecachesecuritygroupingress")), "InvalidAction"
    ),
    _malformed("no-version", form_encode(_pairs_without("Version")), "MissingParameter"),
    _malformed("old-version", form_encode(ingress_pairs(Version="2014-09-30")), "InvalidParameterValue"),
    _malformed("no-cache-group", form_encode(_pairs_without("CacheSecurityGroupName")), "MissingParameter"),
    _malformed("no-ec2-group", form_encode(_pairs_without("EC2SecurityGroupName")), "MissingParameter"),
    _malformed("no-owner-id", form_encode(_pairs_without("EC2SecurityGroupOwnerId")), "MissingParameter"),
    _malformed("owner-short", _owner("12345"), "InvalidParameterValue"),
    _malformed("owner-13-digits", _owner("1234567812345"), "InvalidParameterValue"),
    _malformed("owner-letter", _owner("12345678123a"), "InvalidParameterValue"),
    _malformed("owner-dashed-short", _owner("1234-5678-123"), "InvalidParameterValue"),
    _malformed("duplicate-same-value", _appended("CacheSecurityGroupName", "prod-web"), "InvalidQueryParameter"),
    _malformed("duplicate-other-value", _appended("EC2SecurityGroupOwnerId", "999999999999"), "InvalidQueryParameter"),
    _malformed("name-differs-in-case", _appended("cachesecuritygroupname", "dev-web"), "InvalidQueryParameter"),
    _malformed(
        "known-name-in-other-case",
        form_encode([("ACTION", INGRESS_ACTION)] + _pairs_without("Action")),
        "InvalidQueryParameter",
    ),
    _malformed("bad-escape", _INGRESS_BODY.replace("prod-web", "prod%zzweb"), "MalformedQueryString"),
    _malformed("truncated-escape", _INGRESS_BODY + "%4", "MalformedQueryString"),
    _malformed("escaped-non-utf8", _INGRESS_BODY.replace("prod-web", "prod%FF%FEweb"), "MalformedQueryString"),
    _malformed("raw-non-utf8", _INGRESS_BODY.encode().replace(b"prod-web", b"prod\xffweb"), "MalformedQueryString"),
]


@pytest.mark.parametrize("body, status, code", MALFORMED_BODIES)
def test_malformed_post_is_rejected(proxy, upstream, body, status, code):
    resp = send_raw(proxy.port, body=body)
    assert_api_error(resp, status, code)
    assert upstream.requests == [], "a malformed request reached the upstream"


@pytest.mark.parametrize("body, status, code", MALFORMED_BODIES)
def test_malformed_get_is_rejected(proxy, upstream, body, status, code):
    query = body.decode("latin-1") if isinstance(body, bytes) else body
    if "\xff" in query:
        pytest.skip("a raw non-ASCII byte cannot be written in a request line")
    resp = send_raw(proxy.port, "GET", "/?" + query)
    assert_api_error(resp, status, code)
    assert upstream.requests == [], "a malformed request reached the upstream"


def test_parameter_in_query_string_and_body_is_rejected(proxy, upstream):
    resp = send_raw(proxy.port, target="/?Version=2015-02-02", body=form_encode(ingress_pairs()))
    assert_api_error(resp, 400, "InvalidQueryParameter")
    assert upstream.requests == []


def test_body_over_the_limit_is_rejected(proxy, upstream):
    body = form_encode(ingress_pairs(CacheSecurityGroupName="prod-" + "a" * 66000))
    resp = send_raw(proxy.port, body=body)
    assert_api_error(resp, 413, "RequestEntityTooLarge")
    assert upstream.requests == []


def test_chunked_body_over_the_limit_is_rejected(proxy, upstream):
    body = form_encode(ingress_pairs(CacheSecurityGroupName="prod-" + "a" * 66000)).encode()
    chunks = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    resp = send_raw(proxy.port, chunks=chunks)
    assert_api_error(resp, 413, "RequestEntityTooLarge")
    assert upstream.requests == []


def test_chunked_body_under_the_limit_is_forwarded(proxy, upstream):
    body = form_encode(ingress_pairs()).encode()
    resp = send_raw(proxy.port, chunks=[body[:10], body[10:50], body[50:]])
    assert resp.status == 200, resp.body
    assert_forwarded_once(upstream, "us-east-1", expected_ingress_params())


def test_body_of_exactly_the_limit_is_not_too_large(start_proxy, upstream):
    proxy = start_proxy(max_body_bytes=1024)
    # The cache group comes last so the padding lengthens its name only.
    pairs = [(k, v) for k, v in ingress_pairs() if k != "CacheSecurityGroupName"]
    prefix = form_encode(pairs + [("CacheSecurityGroupName", "dev-")])
    body = prefix + "x" * (1024 - len(prefix))
    assert len(body) == 1024
    resp = send_raw(proxy.port, body=body)
    assert resp.status != 413, resp.body
    assert upstream.requests == []
    resp = send_raw(proxy.port, body=body + "x")
    assert_api_error(resp, 413, "RequestEntityTooLarge")


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", "application/xml"]
)
def test_post_with_another_content_type_is_rejected(proxy, upstream, content_type):
    resp = send_raw(proxy.port, body=form_encode(ingress_pairs()), content_type=content_type)
    assert_api_error(resp, 415, "UnsupportedMediaType")
    assert upstream.requests == []


def test_post_without_charset_is_accepted(proxy, upstream):
    resp = send_raw(proxy.port, body=form_encode(ingress_pairs()), content_type="application/x-www-form-urlencoded")
    assert resp.status == 200, resp.body
    assert_forwarded_once(upstream, "us-east-1", expected_ingress_params())


def test_missing_authorization_needs_a_configured_region(proxy, upstream):
    # The trusted sidecar serves unsigned requests, in the configured region;
    # this proxy has none, so the answer says how to set one.
    resp = send_raw(proxy.port, body=form_encode(ingress_pairs()), authorization=None)
    err = assert_api_error(resp, 400, "MissingParameter")
    assert "set `region` in its config" in err.message, err.message
    assert upstream.requests == []


@pytest.mark.parametrize(
    "authorization",
    [
        raw_authorization(service="ec2"),
        raw_authorization(region="not a region"),
        "AWS4-HMAC-SHA256 garbage",
        f"AWS4-HMAC-SHA256 Credential=AKIDCALLER/20261125/us-east-1/elasticache/aws4_request, Signature={'0' * 64}",
    ],
    ids=["other-service", "bad-region", "garbage", "no-signed-headers"],
)
def test_bad_credential_scope_is_rejected(proxy, upstream, authorization):
    resp = send_raw(proxy.port, body=form_encode(ingress_pairs()), authorization=authorization)
    assert_api_error(resp, 400, "IncompleteSignature")
    assert upstream.requests == []


def test_other_method_is_rejected(proxy, upstream):
    resp = send_raw(proxy.port, "PUT", body=form_encode(ingress_pairs()))
    assert_api_error(resp, 405, "MethodNotAllowed")
    assert upstream.requests == []


def test_other_path_is_rejected(proxy, upstream):
    resp = send_raw(proxy.port, target="/elasticache", body=form_encode(ingress_pairs()))
    assert_api_error(resp, 400, "InvalidQueryParameter")
    assert upstream.requests == []


def test_every_rejection_has_its_own_request_id(proxy, upstream):
    ids = set()
    for _ in range(3):
        resp = send_raw(proxy.port, body=form_encode(_pairs_without("Action")))
        ids.add(assert_api_error(resp, 400, "MissingAction").request_id)
    assert len(ids) == 3


# ---- the upstream failing ------------------------------------------------------
def test_upstream_down_gives_503(start_proxy, make_client, upstream):
    dead = f"http://127.0.0.1:{free_port()}"
    proxy = start_proxy(endpoint=dead)
    client = make_client(proxy)
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    assert time.monotonic() - started < 5
    response = raised.value.response
    assert response["Error"]["Code"] == "ServiceUnavailable"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 503

    resp = send_raw(proxy.port, body=form_encode(ingress_pairs()))
    assert_api_error(resp, 503, "ServiceUnavailable", error_type="Receiver")


def test_upstream_slower_than_the_timeout_gives_503(start_proxy, make_client, upstream):
    proxy = start_proxy(timeout="500ms")
    upstream.override("DescribeCacheClusters", 200, "<late/>", delay=3)
    client = make_client(proxy)
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.describe_cache_clusters()
    elapsed = time.monotonic() - started
    assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert elapsed < 2.5, f"took {elapsed:.2f}s with a 500ms upstream timeout"
    [rec] = upstream.requests
    assert rec.signature_ok


# ---- starting the proxy --------------------------------------------------------
def _run_proxy_with_env(tmp_path, env, port):
    binary = require_proxy_binary()
    config = write_config(tmp_path, listen_port=port, endpoint="http://127.0.0.1:9", policy=TEST_POLICY)
    return subprocess.run(
        [str(binary), "serve", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        stdin=subprocess.DEVNULL,
    )


def test_proxy_refuses_to_start_without_credentials(tmp_path):
    port = free_port()
    done = _run_proxy_with_env(tmp_path, {"PATH": proxy_env()["PATH"]}, port)
    assert done.returncode != 0
    assert "AWS_ACCESS_KEY_ID" in done.stderr, done.stderr


def test_proxy_refuses_to_start_with_only_an_access_key(tmp_path):
    port = free_port()
    env = {"PATH": proxy_env()["PATH"], "AWS_ACCESS_KEY_ID": PROXY_ACCESS_KEY}
    done = _run_proxy_with_env(tmp_path, env, port)
    assert done.returncode != 0
    assert "AWS_SECRET_ACCESS_KEY" in done.stderr, done.stderr


def test_proxy_refuses_a_policy_with_an_unknown_action(tmp_path):
    binary = require_proxy_binary()
    policy = "rules:\n  - id: typo\n    effect: allow\n    actions: [AuthoriseCacheSecurityGroupIngress]\n"
    config = write_config(tmp_path, listen_port=free_port(), endpoint="http://127.0.0.1:9", policy=policy)
    done = subprocess.run(
        [str(binary), "serve", "--config", str(config)],
        env=proxy_env(),
        capture_output=True,
        text=True,
        timeout=10,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "AuthoriseCacheSecurityGroupIngress" in done.stderr, done.stderr
