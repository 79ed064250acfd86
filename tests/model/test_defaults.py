"""core/model/defaults.json, the defaults AWS documents: every entry quotes
the pinned botocore's documentation of that action's member, and names a
real parameter of that action with a value of its type."""

from __future__ import annotations

import json
import re

import pytest
from test_model import REPO, gen

DEFAULTS = REPO / "core" / "model" / "defaults.json"
MODEL = REPO / "core" / "model" / "elasticache-2015-02-02.json"


def entries() -> list[dict]:
    return json.loads(DEFAULTS.read_text())["defaults"]


def plain(documentation: str) -> str:
    """The documentation's words: tags removed, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", documentation)).strip()


@pytest.fixture(scope="module")
def botocore_shapes() -> tuple[dict, dict]:
    service = gen.load_gz_json(gen.botocore_dir() / "data" / "elasticache" / "2015-02-02" / "service-2.json.gz")
    return service["operations"], service["shapes"]


def member_documentation(botocore_shapes, action: str, parameter: str) -> str:
    operations, shapes = botocore_shapes
    members = shapes[operations[action]["input"]["shape"]]["members"]
    return plain(members[parameter].get("documentation", ""))


@pytest.mark.parametrize("entry", entries(), ids=lambda e: f"{e['action']}.{e['parameter']}")
def test_each_default_is_quoted_from_the_pinned_botocore(entry, botocore_shapes):
    assert set(entry) == {"action", "parameter", "default", "says"}
    says = entry["says"]
    assert says in member_documentation(botocore_shapes, entry["action"], entry["parameter"])
    # The quote states the value it gives.
    written = str(entry["default"]).lower()
    assert written in says.lower(), f"`{says}` does not say `{written}`"


@pytest.mark.parametrize("entry", entries(), ids=lambda e: f"{e['action']}.{e['parameter']}")
def test_each_default_is_a_value_of_the_parameter(entry):
    model = json.loads(MODEL.read_text())
    shapes = model["shapes"]
    members = shapes[model["operations"][entry["action"]]["input"]]["members"]
    assert entry["parameter"] in members, f"{entry['action']} has no {entry['parameter']}"
    shape = shapes[members[entry["parameter"]]["shape"]]
    value = entry["default"]
    match shape["type"]:
        case "boolean":
            assert isinstance(value, bool)
        case "integer" | "long":
            assert isinstance(value, int) and not isinstance(value, bool)
            assert shape.get("min", value) <= value <= shape.get("max", value)
        case "string":
            assert isinstance(value, str)
            assert value in shape.get("enum", [value])
        case other:
            pytest.fail(f"a default of type {other} is not supported")


def test_entries_are_sorted_and_unique():
    keys = [(e["action"], e["parameter"]) for e in entries()]
    assert keys == sorted(set(keys))


def test_a_stale_quote_is_found(botocore_shapes):
    doc = member_documentation(botocore_shapes, "CreateReplicationGroup", "TransitEncryptionEnabled")
    assert "Default: false" in doc
    assert "Default: true" not in doc
    # AtRestEncryptionEnabled's default depends on the engine: no one value.
    doc = member_documentation(botocore_shapes, "CreateReplicationGroup", "AtRestEncryptionEnabled")
    assert "Default: true when using Valkey, false when using Redis OSS" in doc
    assert ("CreateReplicationGroup", "AtRestEncryptionEnabled") not in {
        (e["action"], e["parameter"]) for e in entries()
    }
