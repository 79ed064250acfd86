#!/usr/bin/env python3
"""Writes core/model/: the trimmed ElastiCache 2015-02-02 service model that the
core crate compiles into its tables (core/build.rs), from the botocore version
pinned in tests/e2e/requirements.txt, with botocore's LICENSE and NOTICE.

Kept: each operation's input shape and the shapes reachable from inputs, with
what a Query request is parsed and checked by (types, members, required
members, Query names, list and map entries, enums, lengths, patterns).
Dropped: outputs, errors and every documentation text; the documentation is
read first, for the case marks (core/model/SOURCE.md gives the rules), and
core/model/secrets.json and case.json are merged in. Fails on any model
attribute it does not know, so a new botocore cannot change the Query
serialization unseen.

    .venv/bin/python scripts/gen_model.py          # rewrite core/model/
    .venv/bin/python scripts/gen_model.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL_DIR = REPO / "core" / "model"
OUTPUT = MODEL_DIR / "elasticache-2015-02-02.json"
SECRETS = MODEL_DIR / "secrets.json"
CASE = MODEL_DIR / "case.json"
REQUIREMENTS = REPO / "tests" / "e2e" / "requirements.txt"
SERVICE_FILE = "data/elasticache/2015-02-02/service-2.json.gz"
API_VERSION = "2015-02-02"

# Parameter names that may carry a secret: each must be classified in
# secrets.json, as a secret or not.
SECRET_HINT = re.compile(r"token|password|secret", re.IGNORECASE)
LOWERCASE_PHRASE = re.compile(r"\bstored as a lowercase string\b", re.IGNORECASE)
INSENSITIVE_PHRASE = re.compile(r"\b(?:is not|isn't|not) case[- ]sensitive\b", re.IGNORECASE)
STORED_LOWERCASE = "stored-lowercase"
INSENSITIVE = "insensitive"
EXACT = "exact"
CASE_CLASSES = (STORED_LOWERCASE, INSENSITIVE, EXACT)
# A camel-case word that says a value names something: each member whose
# name, item location name or value shape has one must be classified in
# case.json, so no identifier is compared byte for byte unseen.
IDENTIFIER_HINT = re.compile(r"(?:Ids?|IDs?|Names?|Identifiers?|Arns?|Zones?|AZs|Region)(?![a-z])")

# The attributes kept, per shape type; `type` and `documentation` go with
# every shape. Any other attribute stops the generator.
SHAPE_KEYS = {
    "structure": {"members", "required"},
    "list": {"member", "flattened", "min", "max"},
    "map": {"key", "value", "flattened", "min", "max"},
    "string": {"enum", "min", "max", "pattern"},
    "integer": {"min", "max"},
    "long": {"min", "max"},
    "boolean": set(),
    "timestamp": set(),
}
# A structure member: `deprecated` and its message change nothing in how a
# request is parsed or decided.
MEMBER_KEYS = {"shape", "locationName"}
MEMBER_DROPPED = {"documentation", "deprecated", "deprecatedMessage"}
# An operation: what a Query request to it is and carries. Anything more
# (`endpoint`, `requestcompression`, `httpChecksum`, ...) may change how a
# request is sent, and stops the generator.
OPERATION_KEYS = {"name", "http", "input", "output", "errors", "documentation"}
# A list's or a map's entry shape reference.
ENTRY_KEYS = {"shape", "locationName"}
METADATA_KEYS = ("apiVersion", "endpointPrefix", "protocol", "serviceId", "signatureVersion", "xmlNamespace")


class ModelError(Exception):
    """The model or a hand-kept list is not what the generator can vouch for."""


def pinned_botocore_version(requirements: Path = REQUIREMENTS) -> str:
    for line in requirements.read_text().splitlines():
        match = re.fullmatch(r"botocore==(\S+)", line.strip())
        if match:
            return match.group(1)
    raise ModelError(f"no `botocore==` pin in {requirements}")


def botocore_dir() -> Path:
    """The installed botocore, which must be the pinned version."""
    import botocore

    pinned = pinned_botocore_version()
    if botocore.__version__ != pinned:
        raise ModelError(
            f"botocore {botocore.__version__} is installed, expected the pinned {pinned} "
            f"(pip install -r {REQUIREMENTS.relative_to(REPO)})"
        )
    return Path(botocore.__file__).resolve().parent


def load_gz_json(path: Path) -> dict:
    return json.loads(gzip.decompress(path.read_bytes()))


def check_keys(what: str, found: dict, allowed: set[str]) -> None:
    unknown = sorted(set(found) - allowed)
    if unknown:
        raise ModelError(f"{what} has attributes the generator does not know: {unknown}")


def reachable_shapes(service: dict) -> list[str]:
    """The shapes that operation inputs reach, sorted by name."""
    shapes = service["shapes"]
    seen: set[str] = set()
    pending = [op["input"]["shape"] for op in service["operations"].values()]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        if name not in shapes:
            raise ModelError(f"shape `{name}` is referenced but not defined")
        seen.add(name)
        shape = shapes[name]
        pending.extend(member["shape"] for member in shape.get("members", {}).values())
        pending.extend(shape[entry]["shape"] for entry in ("member", "key", "value") if entry in shape)
    return sorted(seen)


def trim_entry(what: str, entry: dict) -> dict:
    check_keys(what, entry, ENTRY_KEYS)
    return dict(entry)


def trim_shape(name: str, shape: dict) -> dict:
    kind = shape.get("type")
    if kind not in SHAPE_KEYS:
        raise ModelError(f"shape `{name}` is of type `{kind}`, expected one of {sorted(SHAPE_KEYS)}")
    check_keys(f"shape `{name}`", shape, SHAPE_KEYS[kind] | {"type", "documentation"})
    out: dict = {"type": kind}
    for key in ("enum", "min", "max", "pattern", "flattened"):
        if key in shape:
            out[key] = shape[key]
    if kind == "list":
        out["member"] = trim_entry(f"the member of list `{name}`", shape["member"])
    if kind == "map":
        out["key"] = trim_entry(f"the key of map `{name}`", shape["key"])
        out["value"] = trim_entry(f"the value of map `{name}`", shape["value"])
    if kind == "structure":
        members = shape.get("members", {})
        required = shape.get("required", [])
        missing = sorted(set(required) - set(members))
        if missing:
            raise ModelError(f"structure `{name}` requires members it does not have: {missing}")
        out["members"] = {}
        for member_name, member in members.items():
            check_keys(f"member `{name}.{member_name}`", member, MEMBER_KEYS | MEMBER_DROPPED)
            trimmed = {key: member[key] for key in MEMBER_KEYS if key in member}
            if member_name in required:
                trimmed["required"] = True
            out["members"][member_name] = trimmed
    return out


def string_value(shapes: dict, shape_name: str) -> tuple[str, str | None] | None:
    """For a member of `shape_name`: the string shape of its value or of each
    of its list items, with the items' location name; None for other values."""
    shape = shapes[shape_name]
    if shape["type"] == "string":
        return shape_name, None
    if shape["type"] == "list" and shapes[shape["member"]["shape"]]["type"] == "string":
        return shape["member"]["shape"], shape["member"].get("locationName")
    return None


def members_of(service: dict, names: list[str]):
    """Every (structure, member name, member) of the shapes `names`."""
    shapes = service["shapes"]
    for name in names:
        for member_name, member in shapes[name].get("members", {}).items():
            yield name, member_name, member


def identifier_like(shapes: dict, member_name: str, member: dict) -> bool:
    """Whether a string member (or list of strings) looks like it names
    something: by its name, its items' location name or its value's shape."""
    value = string_value(shapes, member["shape"])
    if value is None:
        return False
    value_shape, item_name = value
    names = [member_name, item_name or "", "" if value_shape == "String" else value_shape]
    return any(IDENTIFIER_HINT.search(name) for name in names)


def check_case_entries(botocore: Path, cases: dict) -> None:
    """Each entry of case.json has a class and a reason, and its evidence
    holds: a quote still in the cited botocore model, or the entry it
    resolves as, of the same class."""
    for name, entry in cases.items():
        if entry.get("class") not in CASE_CLASSES or not entry.get("reason"):
            raise ModelError(f"case.json: `{name}` needs a class ({', '.join(CASE_CLASSES)}) and a reason")
        check_keys(f"case.json: `{name}`", entry, {"class", "reason", "quote", "names"})
        if "names" in entry:
            named = cases.get(entry["names"])
            if named is None or named["class"] != entry["class"]:
                raise ModelError(
                    f"case.json: `{name}` resolves as `{entry['names']}`, which is not classified "
                    f"`{entry['class']}` there"
                )
        if "quote" in entry:
            quote = entry["quote"]
            if not {"model", "shape", "says"} <= set(quote) <= {"model", "shape", "member", "says"}:
                raise ModelError(f"case.json: `{name}` quotes need a model, a shape, `says` and maybe a member")
            shape = load_gz_json(botocore / "data" / quote["model"] / "service-2.json.gz")["shapes"][quote["shape"]]
            doc = shape["members"][quote["member"]] if "member" in quote else shape
            if quote["says"] not in doc.get("documentation", ""):
                where = f"{quote['shape']}.{quote['member']}" if "member" in quote else quote["shape"]
                raise ModelError(
                    f"case.json: `{name}` cites `{quote['says']}` in {quote['model']} {where}, which no longer says it"
                )


def case_marks(service: dict, names: list[str], cases: dict) -> dict[tuple[str, str], str]:
    """The case mark of each (structure, member) whose value is a name AWS
    stores in lower case or compares without case (SOURCE.md, "Marks
    added"): the class case.json gives its name. Fails on a member that
    looks like an identifier and is not classified, and on a class the
    model's own documentation contradicts."""
    shapes = service["shapes"]
    member_names = {member_name for _, member_name, _ in members_of(service, names)}
    stale = sorted(set(cases) - member_names)
    if stale:
        raise ModelError(f"case.json classifies names no input member has: {stale}")
    unclassified = sorted(
        {
            member_name
            for _, member_name, member in members_of(service, names)
            if member_name not in cases and identifier_like(shapes, member_name, member)
        }
    )
    if unclassified:
        raise ModelError(f"case.json does not classify these members, which look like identifiers: {unclassified}")
    marks: dict[tuple[str, str], str] = {}
    for structure, member_name, member in members_of(service, names):
        where = f"`{structure}.{member_name}`"
        text = member.get("documentation", "") + " " + shapes[member["shape"]].get("documentation", "")
        case = cases.get(member_name, {}).get("class")
        if LOWERCASE_PHRASE.search(text) and case != STORED_LOWERCASE:
            raise ModelError(f"{where} is documented as stored in lower case; case.json says `{case}`")
        if INSENSITIVE_PHRASE.search(text) and case not in (STORED_LOWERCASE, INSENSITIVE):
            raise ModelError(f"{where} is documented as not case sensitive; case.json says `{case}`")
        if case is None:
            continue
        value = string_value(shapes, member["shape"])
        if value is None:
            raise ModelError(f"case.json classifies {where}, which is not a string or a list of strings")
        # A list of an identifier's items is the identifier's, whatever the
        # list is called (`CacheSecurityGroupNames`, `UserIds`).
        value_shape, item_name = value
        for named in (item_name, value_shape):
            if named in cases and cases[named]["class"] != case:
                raise ModelError(f"{where} holds `{named}` items, classified `{cases[named]['class']}`, not `{case}`")
        if case != EXACT:
            marks[(structure, member_name)] = case
    return marks


def parameter_names(model: dict) -> set[str]:
    """Every name a parameter of the trimmed model can carry: members, their
    Query names, and the location names of list and map entries."""
    names: set[str] = set()
    for shape in model["shapes"].values():
        for member_name, member in shape.get("members", {}).items():
            names.add(member_name)
            names.update([member["locationName"]] if "locationName" in member else [])
        for entry in ("member", "key", "value"):
            if "locationName" in shape.get(entry, {}):
                names.add(shape[entry]["locationName"])
    return names


def unclassified_secret_names(model: dict, secrets: dict) -> list[str]:
    """Parameter names that suggest a secret but that secrets.json does not
    classify: each must be judged by hand, since the model marks none."""
    return sorted(name for name in parameter_names(model) if SECRET_HINT.search(name) and name not in secrets)


def check_secrets(model: dict, secrets: dict) -> None:
    for name, entry in secrets.items():
        if entry.get("class") not in ("secret", "not-secret") or not entry.get("reason"):
            raise ModelError(f"secrets.json: `{name}` needs a class (secret or not-secret) and a reason")
    stale = sorted(set(secrets) - parameter_names(model))
    if stale:
        raise ModelError(f"secrets.json classifies names no input has: {stale}")
    unclassified = unclassified_secret_names(model, secrets)
    if unclassified:
        raise ModelError(f"secrets.json does not classify these parameters, which may carry secrets: {unclassified}")


def trimmed_model(service: dict, version: str, sha256: str, secrets: dict, cases: dict) -> dict:
    metadata = service["metadata"]
    if metadata.get("apiVersion") != API_VERSION or metadata.get("protocol") != "query":
        raise ModelError(
            f"the model is API `{metadata.get('apiVersion')}` over `{metadata.get('protocol')}`, "
            f"expected `{API_VERSION}` over `query`"
        )
    operations = {}
    for name, operation in service["operations"].items():
        check_keys(f"operation `{name}`", operation, OPERATION_KEYS)
        if operation.get("http") != {"method": "POST", "requestUri": "/"}:
            raise ModelError(f"operation `{name}` is not a Query POST to `/`: {operation.get('http')}")
        check_keys(f"the input of `{name}`", operation["input"], {"shape"})
        operations[name] = {"input": operation["input"]["shape"]}
    names = reachable_shapes(service)
    for operation in operations.values():
        if service["shapes"][operation["input"]]["type"] != "structure":
            raise ModelError(f"input shape `{operation['input']}` is not a structure")
    shapes = {name: trim_shape(name, service["shapes"][name]) for name in names}
    for (structure, member_name), case in case_marks(service, names, cases).items():
        shapes[structure]["members"][member_name]["case"] = case
    model = {
        "source": {
            "package": "botocore",
            "version": version,
            "file": f"botocore/{SERVICE_FILE}",
            "sha256": sha256,
        },
        "metadata": {key: metadata[key] for key in METADATA_KEYS},
        "operations": operations,
        "shapes": shapes,
    }
    check_secrets(model, secrets)
    for shape in shapes.values():
        for member_name, member in shape.get("members", {}).items():
            if secrets.get(member_name, {}).get("class") == "secret":
                member["secret"] = True
    return model


def render(model: dict) -> str:
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def hand_kept(path: Path, section: str) -> dict:
    return json.loads(path.read_text())[section]


def generate() -> dict[Path, bytes]:
    """Every file of core/model/ that the generator owns, with its content."""
    botocore = botocore_dir()
    raw = (botocore / SERVICE_FILE).read_bytes()
    cases = hand_kept(CASE, "members")
    check_case_entries(botocore, cases)
    model = trimmed_model(
        json.loads(gzip.decompress(raw)),
        pinned_botocore_version(),
        hashlib.sha256(raw).hexdigest(),
        hand_kept(SECRETS, "members"),
        cases,
    )
    dist_info = botocore.parent / f"botocore-{pinned_botocore_version()}.dist-info"
    return {
        OUTPUT: render(model).encode(),
        MODEL_DIR / "LICENSE": (dist_info / "LICENSE.txt").read_bytes(),
        MODEL_DIR / "NOTICE": (dist_info / "NOTICE").read_bytes(),
    }


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print("usage: gen_model.py [--check]", file=sys.stderr)
        return 2
    try:
        files = generate()
    except ModelError as error:
        print(f"gen_model: {error}", file=sys.stderr)
        return 1
    stale = [path for path, content in files.items() if not path.exists() or path.read_bytes() != content]
    if argv == ["--check"]:
        for path in stale:
            print(f"gen_model: {path.relative_to(REPO)} is not what the generator makes", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_bytes(files[path])
        print(f"gen_model: wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
