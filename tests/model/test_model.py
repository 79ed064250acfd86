"""The checked-in service model (core/model/) is what scripts/gen_model.py makes
from the pinned botocore, and every parameter that may carry a secret is
classified in core/model/secrets.json."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_model", REPO / "scripts" / "gen_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_generator()


@pytest.fixture(scope="module")
def generated() -> dict[Path, bytes]:
    return gen.generate()


@pytest.fixture(scope="module")
def model(generated) -> dict:
    return json.loads(generated[gen.OUTPUT])


def test_checked_in_files_are_what_the_generator_makes(generated):
    assert sorted(path.name for path in generated) == ["LICENSE", "NOTICE", "elasticache-2015-02-02.json"]
    for path, content in generated.items():
        assert path.read_bytes() == content, f"{path.relative_to(REPO)} is stale: run scripts/gen_model.py"


def test_the_model_is_the_pinned_botocore_version(model):
    assert model["source"]["version"] == gen.pinned_botocore_version()
    assert model["metadata"]["apiVersion"] == "2015-02-02"


def test_every_parameter_that_may_carry_a_secret_is_classified(model):
    secrets = gen.hand_kept(gen.SECRETS, "members")
    assert gen.unclassified_secret_names(model, secrets) == []
    # The names the issue calls out are secrets, and the model has them.
    for name in ("AuthToken", "Passwords"):
        assert secrets[name]["class"] == "secret"
    marked = {
        (structure, member_name)
        for structure, shape in model["shapes"].items()
        for member_name, member in shape.get("members", {}).items()
        if member.get("secret")
    }
    for structure in ("CreateReplicationGroupMessage", "ModifyReplicationGroupMessage",
                      "CreateCacheClusterMessage", "ModifyCacheClusterMessage"):
        assert (structure, "AuthToken") in marked
    # Nested too: ModifyUser's AuthenticationMode carries the passwords.
    for structure in ("CreateUserMessage", "ModifyUserMessage", "AuthenticationMode"):
        assert (structure, "Passwords") in marked


def test_an_unclassified_secret_name_is_found_wherever_it_is(model):
    secrets = gen.hand_kept(gen.SECRETS, "members")
    changed = copy.deepcopy(model)
    changed["shapes"]["CreateUserMessage"]["members"]["ApiSecretKey"] = {"shape": "String"}
    changed["shapes"]["TagList"]["member"]["locationName"] = "SessionTOKEN"
    # A member of a structure that is only ever nested in a request.
    changed["shapes"]["AuthenticationMode"]["members"]["MasterPassword"] = {"shape": "String"}
    assert gen.unclassified_secret_names(changed, secrets) == ["ApiSecretKey", "MasterPassword", "SessionTOKEN"]
    with pytest.raises(gen.ModelError, match="ApiSecretKey"):
        gen.check_secrets(changed, secrets)


def test_a_stale_or_unjudged_secrets_entry_fails(model):
    secrets = gen.hand_kept(gen.SECRETS, "members")
    with pytest.raises(gen.ModelError, match="Gone"):
        gen.check_secrets(model, {**secrets, "Gone": {"class": "secret", "reason": "no longer in the model"}})
    with pytest.raises(gen.ModelError, match="AuthToken"):
        gen.check_secrets(model, {**secrets, "AuthToken": {"class": "maybe", "reason": "unsure"}})


def test_an_unknown_model_attribute_stops_the_generator():
    shape = {"type": "list", "member": {"shape": "String", "locationName": "Item"}, "sensitive": True}
    with pytest.raises(gen.ModelError, match="sensitive"):
        gen.trim_shape("Items", shape)
    with pytest.raises(gen.ModelError, match="float"):
        gen.trim_shape("Ratio", {"type": "float"})
    member = {"shape": "String", "xmlNamespace": "x"}
    with pytest.raises(gen.ModelError, match="xmlNamespace"):
        gen.trim_shape("Thing", {"type": "structure", "members": {"Name": member}})


def test_an_operation_attribute_that_changes_the_request_stops_the_generator():
    service = gen.load_gz_json(gen.botocore_dir() / gen.SERVICE_FILE)
    secrets = gen.hand_kept(gen.SECRETS, "members")
    cased = gen.hand_kept(gen.CASE, "members")
    gen.trimmed_model(copy.deepcopy(service), "0", "0", secrets, cased)
    service["operations"]["CreateUser"]["requestcompression"] = {"encodings": ["gzip"]}
    with pytest.raises(gen.ModelError, match="requestcompression"):
        gen.trimmed_model(service, "0", "0", secrets, cased)


def test_names_stored_in_lower_case_and_compared_without_case(model):
    shapes = model["shapes"]

    def case(structure, member):
        return shapes[structure]["members"][member].get("case")

    # Documented on the member.
    assert case("CreateCacheSecurityGroupMessage", "CacheSecurityGroupName") == "stored-lowercase"
    # The same identifier elsewhere, and lists of it.
    assert case("AuthorizeCacheSecurityGroupIngressMessage", "CacheSecurityGroupName") == "stored-lowercase"
    assert case("CreateCacheClusterMessage", "CacheSecurityGroupNames") == "stored-lowercase"
    assert case("BatchApplyUpdateActionMessage", "ReplicationGroupIds") == "stored-lowercase"
    assert case("CreateUserGroupMessage", "UserIds") == "stored-lowercase"
    assert case("ModifyUserGroupMessage", "UserIdsToAdd") == "stored-lowercase"
    # "not case sensitive" on a name that is stored in lower case anyway.
    assert case("DeleteCacheClusterMessage", "CacheClusterId") == "stored-lowercase"
    # Names of an id under another name take that id's mark.
    assert case("CreateReplicationGroupMessage", "PrimaryClusterId") == "stored-lowercase"
    assert case("ModifyReplicationGroupMessage", "SnapshottingClusterId") == "stored-lowercase"
    assert case("CopySnapshotMessage", "SourceSnapshotName") == "stored-lowercase"
    assert case("DeleteCacheClusterMessage", "FinalSnapshotIdentifier") == "stored-lowercase"
    assert case("DeleteServerlessCacheRequest", "FinalSnapshotName") == "stored-lowercase"
    # Compared without case: EC2 says so of group names; ids and names with
    # no documented rule.
    assert case("AuthorizeCacheSecurityGroupIngressMessage", "EC2SecurityGroupName") == "insensitive"
    assert case("CreateReplicationGroupMessage", "SecurityGroupIds") == "insensitive"
    assert case("CreateReplicationGroupMessage", "KmsKeyId") == "insensitive"
    # Byte for byte (no mark): digits only, or not a name at all.
    assert case("AuthorizeCacheSecurityGroupIngressMessage", "EC2SecurityGroupOwnerId") is None
    assert case("RebootCacheClusterMessage", "CacheNodeIdsToReboot") is None
    assert case("CreateReplicationGroupMessage", "CacheNodeType") is None


def service_and_cases():
    service = gen.load_gz_json(gen.botocore_dir() / gen.SERVICE_FILE)
    return service, gen.reachable_shapes(service), gen.hand_kept(gen.CASE, "members")


def test_a_member_that_looks_like_an_identifier_must_be_classified():
    service, names, cases = service_and_cases()
    gen.case_marks(service, names, cases)
    shapes = service["shapes"]
    # By its name, its items' location name, or its value's shape.
    for member_name, member in [
        ("FooClusterId", {"shape": "String"}),
        ("BarIdentifier", {"shape": "String"}),
        ("Shards", {"shape": "GlobalNodeGroupIdList"}),
        ("Owners", {"shape": "UserIdListInput"}),
    ]:
        changed = copy.deepcopy(service)
        changed["shapes"]["CreateReplicationGroupMessage"]["members"][member_name] = member
        with pytest.raises(gen.ModelError, match=f"look like identifiers: \\['{member_name}'\\]"):
            gen.case_marks(changed, names, cases)
    # A value that names nothing needs no class.
    shapes["CreateReplicationGroupMessage"]["members"]["FooCount"] = {"shape": "IntegerOptional"}
    shapes["CreateReplicationGroupMessage"]["members"]["FooDescription"] = {"shape": "String"}
    gen.case_marks(service, names, cases)


def test_case_entries_that_do_not_hold_fail():
    service, names, cases = service_and_cases()
    gone = {**cases, "GoneClusterId": {"class": "exact", "reason": "no longer in the model"}}
    with pytest.raises(gen.ModelError, match="GoneClusterId"):
        gen.case_marks(service, names, gone)
    # The model documents CacheClusterId as stored in lower case.
    exact = {**cases, "CacheClusterId": {"class": "exact", "reason": "wrong"}}
    with pytest.raises(gen.ModelError, match="documented as stored in lower case"):
        gen.case_marks(service, names, exact)
    # UserIds holds UserId items: the two cannot differ.
    split = {**cases, "UserIds": {"class": "insensitive", "reason": "wrong"}}
    with pytest.raises(gen.ModelError, match="`UserId` items"):
        gen.case_marks(service, names, split)


def test_case_evidence_must_hold():
    botocore = gen.botocore_dir()
    cited = gen.hand_kept(gen.CASE, "members")
    gen.check_case_entries(botocore, cited)
    changed = copy.deepcopy(cited)
    changed["EC2SecurityGroupName"]["quote"]["says"] = "Names are case-sensitive"
    with pytest.raises(gen.ModelError, match="no longer says it"):
        gen.check_case_entries(botocore, changed)
    # A name resolves as the id it names, so it takes that id's class.
    changed = copy.deepcopy(cited)
    changed["PrimaryClusterId"]["class"] = "insensitive"
    with pytest.raises(gen.ModelError, match="resolves as `CacheClusterId`"):
        gen.check_case_entries(botocore, changed)
    for broken in ({"class": "lowercase", "reason": "x"}, {"class": "exact"}, {"class": "exact", "reason": "x", "why": "y"}):
        with pytest.raises(gen.ModelError, match="PrimaryClusterId"):
            gen.check_case_entries(botocore, {**cited, "PrimaryClusterId": broken})
