"""Ownership through the real proxy: one rule for every team,
`resource_tags: {team: "${caller.tags.team}"}`, decided on the tags the
proxy looks up with ListTagsForResource, signed as itself.

moto's server plays ElastiCache where it implements the action (its ARNs
are in account 123456789012, given as `account_id`); the fake upstream,
with scripted ListTagsForResource answers, plays it for CopySnapshot and
ModifyCacheCluster (which moto lacks) and for failing lookups."""

from __future__ import annotations

import statistics
import time

import botocore.config
import botocore.exceptions
import pytest

from fake_upstream import _error_xml
from harness import aws
from moto_upstream import MOTO_ACCOUNT, moto_arn

KEYS = {
    "payments": ("AKIDPAYMENTSTEAM0001", "payments/Team+Secret/0123456789abcdefgh"),
    "orders": ("AKIDORDERSTEAM000001", "orders/Team+Secret/0123456789abcdefghij"),
    "break-glass": ("AKIDBREAKGLASS000001", "break/Glass+Secret/0123456789abcdefghi"),
    "untagged": ("AKIDUNTAGGED00000001", "untagged/Caller+Secret/0123456789abcde"),
}
CALLER_TAGS = {
    "payments": '{team: "payments"}',
    "orders": '{team: "orders"}',
    "break-glass": '{role: "ops"}',
    "untagged": '{env: "prod"}',
}
CALLERS = "callers:\n" + "".join(
    f'  - name: {name}\n    access_key_id: {key}\n    secret_access_key: "{secret}"\n    tags: {CALLER_TAGS[name]}\n'
    for name, (key, secret) in KEYS.items()
)
TEAMS = ("payments", "orders")

POLICY = """\
rules:
  - id: manage-own
    effect: allow
    actions: [ModifyReplicationGroup, ModifyCacheCluster, DeleteReplicationGroup, DeleteCacheCluster,
              CreateSnapshot, CopySnapshot, AddTagsToResource]
    resource_tags: {team: "${caller.tags.team}"}
  - id: create-owned
    effect: allow
    actions: [CreateReplicationGroup]
    params:
      Tags: {tags: {team: "${caller.tags.team}"}}
    resource_tags: {team: "${caller.tags.team}"}
  - id: break-glass-retags
    effect: allow
    actions: [AddTagsToResource]
    callers: [break-glass]
  - id: anyone-reads
    effect: allow
    actions: ["Describe*", ListTagsForResource]
"""


def other(team: str) -> str:
    return TEAMS[1 - TEAMS.index(team)]


# ---- the proxy and its callers ------------------------------------------------
@pytest.fixture
def owned_proxy(start_proxy):
    """Factory: the proxy with POLICY and CALLERS in front of `endpoint`,
    with the admin listener, `denial_detail: full`, moto's account and this
    `cache_ttl`."""

    def start(endpoint: str, credentials=None, cache_ttl: str = "60s", timeout: str = "2s"):
        extra = f'account_id: "{MOTO_ACCOUNT}"\nresource_tags:\n  cache_ttl: "{cache_ttl}"\n'
        return start_proxy(
            policy=POLICY,
            endpoint=endpoint,
            credentials=credentials,
            callers=CALLERS,
            admin=True,
            denial_detail="full",
            timeout=timeout,
            extra=extra,
        )

    return start


@pytest.fixture
def as_caller(make_client):
    """as_caller(proxy, name): a boto3 client of that caller, no retries."""

    def make(proxy, name: str):
        access_key, secret_key = KEYS[name]
        return make_client(proxy, access_key=access_key, secret_key=secret_key)

    return make


def call(client, operation: str, params: dict) -> dict:
    return getattr(client, operation)(**params)


def denied(client, operation: str, params: dict) -> str:
    """Makes a call the policy denies; returns the proxy's message."""
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call(client, operation, params)
    error = raised.value.response["Error"]
    assert (raised.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (
        400,
        "InvalidParameterCombination",
    ), error
    return error["Message"]


def audit_line(proxy, action: str, caller: str) -> dict:
    return [line for line in proxy.audit_records() if line["action"] == action and line["caller"] == caller][-1]


def lookups(proxy) -> dict[str, float]:
    metrics = proxy.metrics()
    return {result: metrics.value("resource_tag_lookups_total", result=result) for result in ("hit", "miss", "failed")}


# ---- two teams' resources in moto -------------------------------------------------
def make_team_resources(moto) -> None:
    """For each team: a replication group `TEAM-1` and a cache cluster
    `TEAM-c1`, tagged `team=TEAM`, made in moto directly."""
    client = moto.client()
    for team in TEAMS:
        tags = [{"Key": "team", "Value": team}]
        client.create_replication_group(ReplicationGroupId=f"{team}-1", ReplicationGroupDescription=team, Tags=tags)
        client.create_cache_cluster(
            CacheClusterId=f"{team}-c1", Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheNodes=1, Tags=tags
        )


def group_arn(team: str) -> str:
    return moto_arn("us-east-1", "replicationgroup", f"{team}-1")


def moto_group(moto, team: str) -> dict | None:
    found = [g for g in moto.records("ReplicationGroup") if g["replication_group_id"] == f"{team}-1"]
    return found[0] if found else None


def moto_tags(moto, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in moto.client().list_tags_for_resource(ResourceName=arn)["TagList"]}


# Each operation: the call `caller` makes on `owner`'s resources.
def modify_group(caller, owner):
    params = {"ReplicationGroupId": f"{owner}-1", "ReplicationGroupDescription": f"by {caller}"}
    return "modify_replication_group", {**params, "ApplyImmediately": True}


def delete_group(caller, owner):
    return "delete_replication_group", {"ReplicationGroupId": f"{owner}-1"}


def delete_cluster(caller, owner):
    return "delete_cache_cluster", {"CacheClusterId": f"{owner}-c1"}


def snapshot_group(caller, owner):
    return "create_snapshot", {"ReplicationGroupId": f"{owner}-1", "SnapshotName": f"{caller}-of-{owner}"}


def join_as_primary(caller, owner):
    params = {
        "ReplicationGroupId": f"{caller}-from-{owner}",
        "ReplicationGroupDescription": "joins",
        "PrimaryClusterId": f"{owner}-c1",
        "Tags": [{"Key": "team", "Value": caller}],
    }
    return "create_replication_group", params


def retag_group(caller, owner):
    return "add_tags_to_resource", {"ResourceName": group_arn(owner), "Tags": [{"Key": "env", "Value": caller}]}


def effect_of(moto, operation: str, caller: str, owner: str):
    """What moto holds that the operation would change."""
    if operation == "modify_replication_group":
        return moto_group(moto, owner)["description"]
    if operation == "delete_replication_group":
        return moto_group(moto, owner)["status"]  # moto keeps it, `deleting`
    if operation == "delete_cache_cluster":
        [cluster] = [c for c in moto.records("CacheCluster") if c["cache_cluster_id"] == f"{owner}-c1"]
        return cluster["cache_cluster_status"]
    if operation == "create_snapshot":
        return [s["snapshot_name"] for s in moto.records("Snapshot")].count(f"{caller}-of-{owner}")
    if operation == "create_replication_group":
        return any(g["replication_group_id"] == f"{caller}-from-{owner}" for g in moto.records("ReplicationGroup"))
    if operation == "add_tags_to_resource":
        return moto_tags(moto, group_arn(owner)).get("env")
    raise AssertionError(operation)


OPERATIONS = {
    # name: (make, the kind of the owner's resource in words, its id, the member naming it)
    "modify": (modify_group, "replication group", "{owner}-1", "ReplicationGroupId"),
    "delete-group": (delete_group, "replication group", "{owner}-1", "ReplicationGroupId"),
    "delete-cluster": (delete_cluster, "cache cluster", "{owner}-c1", "CacheClusterId"),
    "snapshot": (snapshot_group, "replication group", "{owner}-1", "ReplicationGroupId"),
    "join-as-primary": (join_as_primary, "cache cluster", "{owner}-c1", "PrimaryClusterId"),
    "retag": (retag_group, "replication group", "{owner}-1", "ResourceName"),
}


def action_name(operation: str) -> str:
    """boto3's `modify_replication_group` as the Query API's action."""
    return "".join(word.title() for word in operation.split("_"))


def resources_seen(line: dict) -> dict:
    """The audit line's resources, by naming member and id, with their tags."""
    return {(r["member"], r["id"]): r["tags"] for r in line["resource_tags"]}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_each_team_acts_on_its_own_resources_only(name, moto, owned_proxy, as_caller):
    make_team_resources(moto)
    proxy = owned_proxy(moto.endpoint, moto.credentials)
    make, words, id_form, member = OPERATIONS[name]
    # Denied first, while every resource is as made.
    for caller in TEAMS:
        owner = other(caller)
        operation, params = make(caller, owner)
        before = effect_of(moto, operation, caller, owner)
        message = denied(as_caller(proxy, caller), operation, params)
        resource = id_form.format(owner=owner)
        lacks = f"{words} `{resource}` (`{member}`) lacks the tag `team={caller}`: it has `team={owner}`"
        assert lacks in message, message
        assert effect_of(moto, operation, caller, owner) == before, "a denied call changed moto"
        line = audit_line(proxy, action_name(operation), caller)
        assert (line["decision"], line["upstream_status"]) == ("deny", None)
        assert resources_seen(line) == {(member, resource): {"team": owner}}
    for caller in TEAMS:
        operation, params = make(caller, caller)
        before = effect_of(moto, operation, caller, caller)
        call(as_caller(proxy, caller), operation, params)
        assert effect_of(moto, operation, caller, caller) != before, f"{operation} of {caller} left moto as it was"
        line = audit_line(proxy, action_name(operation), caller)
        assert (line["decision"], line["upstream_status"]) == ("allow", 200)
        assert resources_seen(line) == {(member, id_form.format(owner=caller)): {"team": caller}}


# ---- what moto lacks: the fake upstream, with scripted tags ----------------------
def fake_arn(kind: str, name: str) -> str:
    return f"arn:aws:elasticache:us-east-1:{MOTO_ACCOUNT}:{kind}:{name}"


FAKE_OPERATIONS = {
    # name: (operation, params by caller and owner, ARN type, id by owner, member, kind's words)
    "copy": (
        "copy_snapshot",
        lambda caller, owner: {"SourceSnapshotName": f"{owner}-snap", "TargetSnapshotName": f"{caller}-copy"},
        "snapshot",
        "{owner}-snap",
        "SourceSnapshotName",
        "snapshot",
    ),
    "modify-cluster": (
        "modify_cache_cluster",
        lambda caller, owner: {"CacheClusterId": f"{owner}-c1", "NumCacheNodes": 2},
        "cluster",
        "{owner}-c1",
        "CacheClusterId",
        "cache cluster",
    ),
}


@pytest.mark.parametrize("name", list(FAKE_OPERATIONS))
def test_what_moto_lacks_is_decided_on_the_tags_the_upstream_gives(name, upstream, owned_proxy, as_caller):
    operation, make, arn_type, id_form, member, words = FAKE_OPERATIONS[name]
    for team in TEAMS:
        upstream.set_tags(fake_arn(arn_type, id_form.format(owner=team)), {"team": team, "env": "prod"})
    proxy = owned_proxy(upstream.endpoint)
    action = action_name(operation)
    for caller in TEAMS:
        owner = other(caller)
        message = denied(as_caller(proxy, caller), operation, make(caller, owner))
        resource = id_form.format(owner=owner)
        assert f"{words} `{resource}` (`{member}`) lacks the tag `team={caller}`: it has `team={owner}`" in message
        line = audit_line(proxy, action, caller)
        assert resources_seen(line) == {(member, resource): {"team": owner, "env": "prod"}}
        [seen] = line["resource_tags"]
        assert (seen["kind"], seen["arn"], seen["region"]) == (arn_type, fake_arn(arn_type, resource), "us-east-1")
    assert [r.action for r in upstream.requests if r.action != "ListTagsForResource"] == []
    for caller in TEAMS:
        call(as_caller(proxy, caller), operation, make(caller, caller))
    forwarded = [r for r in upstream.requests if r.action == action]
    assert [r.params[member] for r in forwarded] == [id_form.format(owner=team) for team in TEAMS]
    # Each resource looked up once, by the denial that named it (the
    # owner's own call was a cache hit), and signed as the proxy.
    looked_up = [r for r in upstream.requests if r.action == "ListTagsForResource"]
    assert sorted(r.params["ResourceName"] for r in looked_up) == sorted(
        fake_arn(arn_type, id_form.format(owner=team)) for team in TEAMS
    )
    assert all(r.signature_ok and r.access_key == upstream.access_key for r in upstream.requests)


# ---- the cache -------------------------------------------------------------------
def modify(client, team: str, description: str = "changed") -> dict:
    return client.modify_replication_group(
        ReplicationGroupId=f"{team}-1", ReplicationGroupDescription=description, ApplyImmediately=True
    )


def moto_lookups(moto) -> list[str]:
    """The ARNs moto was asked the tags of, in order."""
    return [params["ResourceName"] for action, params in moto.recorded_actions() if action == "ListTagsForResource"]


def test_a_second_request_for_a_resource_is_a_cache_hit(moto, owned_proxy, as_caller):
    make_team_resources(moto)
    proxy = owned_proxy(moto.endpoint, moto.credentials, cache_ttl="60s")
    moto.start_recording()
    payments = as_caller(proxy, "payments")
    modify(payments, "payments", "first")
    assert lookups(proxy) == {"hit": 0, "miss": 1, "failed": 0}
    modify(payments, "payments", "second")
    assert lookups(proxy) == {"hit": 1, "miss": 1, "failed": 0}
    assert moto_group(moto, "payments")["description"] == "second"
    # One lookup, of the ARN moto gave the group: `account_id` is moto's.
    [group] = moto.client().describe_replication_groups(ReplicationGroupId="payments-1")["ReplicationGroups"]
    created_arn = group["ARN"]
    assert moto_lookups(moto) == [created_arn] == [group_arn("payments")]
    actions = [action for action, _ in moto.recorded_actions()]
    assert actions == ["ListTagsForResource"] + ["ModifyReplicationGroup"] * 2 + ["DescribeReplicationGroups"]


def test_a_retag_through_the_proxy_is_seen_at_once(moto, owned_proxy, as_caller):
    make_team_resources(moto)
    proxy = owned_proxy(moto.endpoint, moto.credentials, cache_ttl="60s")
    modify(as_caller(proxy, "payments"), "payments")
    assert lookups(proxy) == {"hit": 0, "miss": 1, "failed": 0}
    # Only break-glass may hand a group to another team.
    as_caller(proxy, "break-glass").add_tags_to_resource(
        ResourceName=group_arn("payments"), Tags=[{"Key": "team", "Value": "orders"}]
    )
    assert moto_tags(moto, group_arn("payments")) == {"team": "orders"}
    # (Whether break-glass's own request looked up is not the point here.)
    after_retag = lookups(proxy)
    assert after_retag["miss"] == 1
    # The retag dropped the entry: the next decision looks again, 60s early.
    message = denied(as_caller(proxy, "payments"), "modify_replication_group", {"ReplicationGroupId": "payments-1"})
    assert "group `payments-1` (`ReplicationGroupId`) lacks the tag `team=payments`: it has `team=orders`" in message
    assert lookups(proxy) == {**after_retag, "miss": 2}
    modify(as_caller(proxy, "orders"), "payments", "now orders'")
    assert lookups(proxy) == {**after_retag, "miss": 2, "hit": after_retag["hit"] + 1}
    assert moto_group(moto, "payments")["description"] == "now orders'"


def test_a_retag_around_the_proxy_is_seen_after_cache_ttl(moto, owned_proxy, as_caller):
    ttl = 2.0
    make_team_resources(moto)
    proxy = owned_proxy(moto.endpoint, moto.credentials, cache_ttl=f"{int(ttl)}s")
    payments, orders = as_caller(proxy, "payments"), as_caller(proxy, "orders")
    looked_up_before = time.monotonic()
    modify(payments, "payments", "before the retag")
    moto.client().add_tags_to_resource(ResourceName=group_arn("payments"), Tags=[{"Key": "team", "Value": "orders"}])
    # Stale: the proxy still holds `team=payments`.
    modify(payments, "payments", "stale")
    denied(orders, "modify_replication_group", {"ReplicationGroupId": "payments-1"})
    stale_until = time.monotonic()
    assert stale_until - looked_up_before < ttl, "too slow to see the stale entry: the test proves nothing"
    assert lookups(proxy) == {"hit": 2, "miss": 1, "failed": 0}
    assert moto_group(moto, "payments")["description"] == "stale"
    # Fresh once the entry, counted from its lookup, has expired.
    time.sleep(max(0.0, looked_up_before + ttl + 0.05 - time.monotonic()))
    denied(payments, "modify_replication_group", {"ReplicationGroupId": "payments-1"})
    modify(orders, "payments", "fresh")
    assert lookups(proxy) == {"hit": 3, "miss": 2, "failed": 0}
    assert moto_group(moto, "payments")["description"] == "fresh"


# ---- a failed lookup is a retryable refusal ------------------------------------------
FAILURES = {
    # name: (override of ListTagsForResource: status, body, delay; the reason the caller reads)
    "throttling": (
        400,
        _error_xml("Throttling", "Rate exceeded", "throttled-1"),
        0.0,
        "AWS answered `Throttling`: Rate exceeded",
    ),
    "error-500": (
        500,
        _error_xml("InternalFailure", "An internal error has occurred.", "failed-1", "Receiver"),
        0.0,
        "AWS answered `InternalFailure`: An internal error has occurred.",
    ),
    # Past the proxy's 1s upstream timeout.
    "timeout": (200, b"", 1.5, "the upstream endpoint did not answer within 1s"),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_a_failed_lookup_denies_with_a_retryable_503(name, upstream, owned_proxy, as_caller):
    status, body, delay, reason = FAILURES[name]
    upstream.override("ListTagsForResource", status, body, delay=delay)
    proxy = owned_proxy(upstream.endpoint, timeout="1s")
    payments = as_caller(proxy, "payments")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        modify(payments, "payments")
    response = raised.value.response
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (503, "ServiceUnavailable")
    message = response["Error"]["Message"]
    assert message.startswith("the proxy could not check the tags of replication group `payments-1`: "), message
    assert message.endswith("; nothing was forwarded, and the request can be retried"), message
    assert reason in message, message
    assert [r.action for r in upstream.requests] == ["ListTagsForResource"], "only the lookup reached the upstream"
    assert lookups(proxy) == {"hit": 0, "miss": 0, "failed": 1}
    line = audit_line(proxy, "ModifyReplicationGroup", "payments")
    assert (line["error_code"], line["upstream_status"]) == ("ServiceUnavailable", None)

    # The failure is not kept: once the upstream answers, the same request passes.
    upstream.reset()
    upstream.set_tags(fake_arn("replicationgroup", "payments-1"), {"team": "payments"})
    modify(payments, "payments")
    assert [r.action for r in upstream.requests] == ["ListTagsForResource", "ModifyReplicationGroup"]
    assert lookups(proxy) == {"hit": 0, "miss": 1, "failed": 1}


def test_botocore_retries_a_failed_lookup(upstream, owned_proxy):
    """botocore's standard retries take the 503 for a transient error: each
    attempt is looked up again, and nothing is ever forwarded."""
    upstream.override("ListTagsForResource", 400, _error_xml("Throttling", "Rate exceeded", "throttled-1"))
    proxy = owned_proxy(upstream.endpoint)
    access_key, secret_key = KEYS["payments"]
    client = aws.client(
        "elasticache",
        region_name="us-east-1",
        endpoint_url=proxy.url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        modify(client, "payments")
    assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert [r.action for r in upstream.requests] == ["ListTagsForResource"] * 3
    assert lookups(proxy)["failed"] == 3


# ---- no lookup without a resource_tags rule; no tag, no access ------------------------
def test_an_action_without_a_resource_tags_rule_looks_nothing_up(upstream, owned_proxy, as_caller):
    upstream.set_tags(fake_arn("replicationgroup", "payments-1"), {"team": "payments"})
    proxy = owned_proxy(upstream.endpoint)
    as_caller(proxy, "payments").describe_cache_clusters(CacheClusterId="payments-c1")
    listed = as_caller(proxy, "orders").list_tags_for_resource(ResourceName=fake_arn("replicationgroup", "payments-1"))
    assert listed["TagList"] == [{"Key": "team", "Value": "payments"}]
    # The one ListTagsForResource is the caller's own, forwarded.
    assert [(r.action, r.access_key) for r in upstream.requests] == [
        ("DescribeCacheClusters", upstream.access_key),
        ("ListTagsForResource", upstream.access_key),
    ]
    assert lookups(proxy) == {"hit": 0, "miss": 0, "failed": 0}
    line = audit_line(proxy, "DescribeCacheClusters", "payments")
    assert (line["decision"], line["resource_tags"]) == ("allow", None)
    assert audit_line(proxy, "ListTagsForResource", "orders")["upstream_status"] == 200


def test_a_caller_without_the_team_tag_is_denied(moto, owned_proxy, as_caller):
    make_team_resources(moto)
    proxy = owned_proxy(moto.endpoint, moto.credentials)
    untagged = as_caller(proxy, "untagged")
    for team in TEAMS:
        params = {"ReplicationGroupId": f"{team}-1", "ReplicationGroupDescription": "x"}
        message = denied(untagged, "modify_replication_group", params)
        assert "rule `manage-own`: the caller has no tag `team`, which `resource_tags.team` refers to" in message
        assert moto_group(moto, team)["description"] == team
    message = denied(untagged, "create_replication_group", join_as_primary("untagged", "payments")[1])
    assert "the caller has no tag `team`" in message, message
    # break-glass has no team either: it may retag, and nothing else.
    denied(as_caller(proxy, "break-glass"), "delete_replication_group", {"ReplicationGroupId": "payments-1"})
    assert [g["status"] for g in moto.records("ReplicationGroup")] == ["available", "available"]


# ---- what a lookup costs -------------------------------------------------------------
def test_the_latency_a_cache_miss_adds(moto, owned_proxy, as_caller):
    """Times ~50 allowed modifies from the client, each looked up in moto
    (`cache_ttl: off`) or from a warm cache, and prints the medians (run
    with -s to read them); checks only that each proxy did as configured."""
    rounds = 50
    make_team_resources(moto)
    medians = {}
    for ttl in ("off", "60s"):
        proxy = owned_proxy(moto.endpoint, moto.credentials, cache_ttl=ttl)
        payments = as_caller(proxy, "payments")
        modify(payments, "payments")  # the connection, and a warm cache
        took = []
        for i in range(rounds):
            started = time.perf_counter()
            modify(payments, "payments", f"round {i}")
            took.append(time.perf_counter() - started)
        medians[ttl] = statistics.median(took)
        expected = {"hit": 0, "miss": rounds + 1} if ttl == "off" else {"hit": rounds, "miss": 1}
        assert lookups(proxy) == {**expected, "failed": 0}
        proxy.stop()
    print(
        f"\nModifyReplicationGroup through the proxy to moto, median of {rounds}: "
        f"cache_ttl off {medians['off'] * 1000:.2f} ms, warm cache {medians['60s'] * 1000:.2f} ms, "
        f"a miss adds {(medians['off'] - medians['60s']) * 1000:.2f} ms"
    )


def test_an_id_in_another_case_is_looked_up_as_aws_stores_it(moto, owned_proxy, as_caller):
    """AWS stores ids in lower case: `Payments-1` is the group
    `payments-1`, whose ARN the proxy asks about, and whose cache entry it
    shares."""
    make_team_resources(moto)
    proxy = owned_proxy(moto.endpoint, moto.credentials)
    moto.start_recording()
    payments = as_caller(proxy, "payments")
    modify(payments, "Payments", "upper")
    modify(payments, "payments", "lower")
    message = denied(as_caller(proxy, "orders"), "modify_replication_group", {"ReplicationGroupId": "PAYMENTS-1"})
    assert "group `payments-1` (`ReplicationGroupId`) lacks the tag `team=orders`: it has `team=payments`" in message
    assert moto_lookups(moto) == [group_arn("payments")]
    assert lookups(proxy) == {"hit": 2, "miss": 1, "failed": 0}


def test_the_same_id_in_two_regions_is_two_resources(moto, owned_proxy, make_client):
    """The lookup names the region the request is for: `shared-1` is
    payments' in us-east-1 and orders' in eu-west-1."""
    for region, team in (("us-east-1", "payments"), ("eu-west-1", "orders")):
        moto.client(region).create_replication_group(
            ReplicationGroupId="shared-1", ReplicationGroupDescription=team, Tags=[{"Key": "team", "Value": team}]
        )
    proxy = owned_proxy(moto.endpoint, moto.credentials)
    for region, owner in (("us-east-1", "payments"), ("eu-west-1", "orders")):
        for caller in TEAMS:
            key, secret = KEYS[caller]
            client = make_client(proxy, region=region, access_key=key, secret_key=secret)
            params = {"ReplicationGroupId": "shared-1", "ReplicationGroupDescription": f"by {caller}"}
            if caller == owner:
                client.modify_replication_group(**params)
            else:
                assert f"it has `team={owner}`" in denied(client, "modify_replication_group", params)
        [group] = moto.client(region).describe_replication_groups()["ReplicationGroups"]
        assert group["Description"] == f"by {owner}"
    assert lookups(proxy) == {"hit": 2, "miss": 2, "failed": 0}


class LookedUpForNothing(Exception):
    """The proxy refused a request for a lookup no rule needed."""


def test_a_caller_no_resource_tags_rule_can_match_needs_no_lookup(upstream, owned_proxy, as_caller):
    """`manage-own` refers to `team`, which break-glass does not have, so
    it cannot match whatever the group carries: break-glass's retag is
    decided by `break-glass-retags` alone, and need not wait for (or fail
    with) a lookup."""
    upstream.override("ListTagsForResource", 400, _error_xml("Throttling", "Rate exceeded", "throttled-1"))
    proxy = owned_proxy(upstream.endpoint)
    arn = fake_arn("replicationgroup", "payments-1")
    try:
        as_caller(proxy, "break-glass").add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "team", "Value": "orders"}])
    except botocore.exceptions.ClientError as err:
        if err.response["Error"]["Code"] == "ServiceUnavailable" and "could not check the tags" in str(err):
            raise LookedUpForNothing(str(err)) from err
        raise
    assert [r.action for r in upstream.requests] == ["AddTagsToResource"]
