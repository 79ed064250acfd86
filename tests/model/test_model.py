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
    cased = gen.hand_kept(gen.CASE, "case_insensitive")
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
    # The same identifier elsewhere: by name, by list item name, by plural.
    assert case("AuthorizeCacheSecurityGroupIngressMessage", "CacheSecurityGroupName") == "stored-lowercase"
    assert case("CreateCacheClusterMessage", "CacheSecurityGroupNames") == "stored-lowercase"
    assert case("BatchApplyUpdateActionMessage", "ReplicationGroupIds") == "stored-lowercase"
    # A list of the identifier's own shape.
    assert case("CreateUserGroupMessage", "UserIds") == "stored-lowercase"
    # "not case sensitive" on a name that is stored in lower case anyway.
    assert case("DeleteCacheClusterMessage", "CacheClusterId") == "stored-lowercase"
    # From case.json: EC2 compares security group names without case.
    assert case("AuthorizeCacheSecurityGroupIngressMessage", "EC2SecurityGroupName") == "insensitive"
    assert case("RevokeCacheSecurityGroupIngressMessage", "EC2SecurityGroupName") == "insensitive"
    # Not names at all, or names the model says nothing of.
    assert case("CreateReplicationGroupMessage", "CacheNodeType") is None
    assert case("AuthorizeCacheSecurityGroupIngressMessage", "EC2SecurityGroupOwnerId") is None
    assert case("CopySnapshotMessage", "SourceSnapshotName") is None


def test_case_evidence_must_still_be_in_the_cited_model():
    botocore = gen.botocore_dir()
    cited = gen.hand_kept(gen.CASE, "case_insensitive")
    gen.check_case_evidence(botocore, cited)
    changed = copy.deepcopy(cited)
    changed["EC2SecurityGroupName"]["evidence"]["says"] = "Names are case-sensitive"
    with pytest.raises(gen.ModelError, match="no longer says it"):
        gen.check_case_evidence(botocore, changed)
