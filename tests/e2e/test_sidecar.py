"""Trusted sidecar mode (`callers: none`) takes what SDKs send locally:
any access key, or no signature at all, with the region from the config.
The proxy verifies nothing in this mode, so a key's shape is no reason to
refuse it; the policy still decides every call."""

import botocore
import botocore.config
import botocore.exceptions
import pytest

from conftest import TRUSTED_CALLER
from harness import aws
from support import ALLOWED_INGRESS, assert_api_error, assert_ingress_authorized, client_error, form_encode, send_raw

INGRESS_BODY = form_encode(
    [("Action", "AuthorizeCacheSecurityGroupIngress"), ("Version", "2015-02-02"), *ALLOWED_INGRESS.items()]
)


def unsigned(proxy, region: str = "us-east-1"):
    return aws.client(
        "elasticache",
        region_name=region,
        endpoint_url=proxy.url,
        config=botocore.config.Config(signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1}),
    )


@pytest.mark.parametrize("key", ["test", "AKID", "local_dev-key.1", "ASIA" + "X" * 40])
def test_any_access_key_shape_is_accepted(start_proxy, make_client, upstream, key):
    proxy = start_proxy()
    client = make_client(proxy, access_key=key, secret_key="test")
    assert_ingress_authorized(client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS))
    [record] = upstream.requests
    assert record.signature_ok, record.signature_problems
    [line] = proxy.audit_records()
    assert (line["caller"], line["auth"], line["decision"]) == (TRUSTED_CALLER, "trusted", "allow")


def test_the_policy_still_decides_for_a_dummy_key(start_proxy, make_client, upstream):
    proxy = start_proxy()
    client = make_client(proxy, access_key="test", secret_key="test")
    denied = dict(ALLOWED_INGRESS, CacheSecurityGroupName="prod-legacy")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.authorize_cache_security_group_ingress(**denied)
    assert client_error(raised)[:2] == (400, "InvalidParameterCombination")
    assert upstream.requests == []


def test_unsigned_requests_take_the_configured_region(start_proxy, upstream):
    proxy = start_proxy(region="ap-south-1")
    # The policy allows us-east-1 and eu-west-1: the region decided on is the
    # config's, whatever region the client was made for.
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        unsigned(proxy, "us-east-1").authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    assert client_error(raised)[:2] == (400, "InvalidParameterCombination")
    assert upstream.requests == []
    proxy = start_proxy(region="eu-west-1")
    assert_ingress_authorized(unsigned(proxy, "us-east-1").authorize_cache_security_group_ingress(**ALLOWED_INGRESS))
    [record] = upstream.requests
    assert record.region == "eu-west-1" and record.signature_ok, record.signature_problems
    [line] = proxy.audit_records()
    assert (line["auth"], line["region"], line["decision"]) == ("trusted", "eu-west-1", "allow")


def test_unsigned_request_without_a_configured_region(start_proxy, upstream):
    proxy = start_proxy()
    answer = send_raw(proxy.port, body=INGRESS_BODY, authorization=None, amz_date=None)
    error = assert_api_error(answer, 400, "MissingParameter")
    assert "set `region` in its config" in error.message, error.message
    assert upstream.requests == []
