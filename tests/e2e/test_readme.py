"""Every command example of README.md, run against the real binary: what
the README shows is what `check`, `explain`, `test` and `serve` print.

How README.md marks its examples (HTML comments, which Markdown hides):

- Every ```console block is run. A line starting with `$ ` is a command
  (continued by a trailing `\\`); the lines after it, up to the next command,
  are what it prints, stdout and stderr together. A line `...` stands for any
  number of lines.
- `<!-- readme-file: NAME -->` before a fenced block names its content.
- `<!-- readme-test: {...} -->` before a console block runs it in a fresh
  folder holding the files it lists, as JSON: `{"files": {"PATH": SOURCE}}`,
  where SOURCE is `{"block": NAME}` (a named block) or `{"repo": PATH}` (a
  file of the repository), with an optional `"replace": [[OLD, NEW], ...]`.
  Without it, the block runs in the repository's root.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import require_proxy_binary
from harness.processes import REPO

README = REPO / "README.md"
PROGRAM = "elasticache-authz-proxy"
MARKER = re.compile(r"^<!-- readme-(file|test): (.*) -->$")
# Output of a validator or of the policy tooling: such an example must be run.
TOOL_OUTPUT = re.compile(r": \d+ errors? in (policy|config|callers file)$|: warning: rule `")


@dataclass
class Block:
    language: str
    lines: list[str]
    line: int  # where the block starts in README.md, for messages
    markers: dict[str, str] = field(default_factory=dict)


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the markers just
    before it."""
    found: list[Block] = []
    pending: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line.strip())
        if marker:
            pending[marker.group(1)] = marker.group(2)
        elif line.startswith("```"):
            start = i
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            found.append(Block(line[3:].strip(), body, start + 1, pending))
            pending = {}
        elif line.strip():
            # A marker belongs to the block right after it.
            pending = {}
        i += 1
    return found


@dataclass
class Command:
    argv: list[str]
    expected: list[str]


def commands(block: Block) -> list[Command]:
    out: list[Command] = []
    lines = iter(block.lines)
    for line in lines:
        if line.startswith("$ "):
            text = line[2:]
            while text.endswith("\\"):
                text = text[:-1] + " " + next(lines).strip()
            out.append(Command(shlex.split(text), []))
        else:
            assert out, f"README.md:{block.line}: output before any `$ ` command"
            out[-1].expected.append(line)
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` is `expected`, each `...` standing for any lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


def source_text(spec: dict, named: dict[str, str]) -> str:
    if "block" in spec:
        assert spec["block"] in named, f"no block is marked `readme-file: {spec['block']}`"
        text = named[spec["block"]]
    else:
        text = (REPO / spec["repo"]).read_text()
    for old, new in spec.get("replace", []):
        assert old in text, f"{old!r} is not in {spec}"
        text = text.replace(old, new)
    return text


ALL = blocks(README.read_text())
NAMED = {b.markers["file"]: "\n".join(b.lines) + "\n" for b in ALL if "file" in b.markers}
CONSOLE = [b for b in ALL if b.language == "console"]


def test_the_readme_has_examples_to_run():
    assert len(CONSOLE) >= 6, [b.line for b in CONSOLE]
    assert {"mine.yaml", "proxy.yaml", "callers.yaml"} <= set(NAMED)


def test_every_example_of_tool_output_is_run():
    unrun = [
        f"README.md:{b.line + 1 + i}: {line}"
        for b in ALL
        if b.language != "console"
        for i, line in enumerate(b.lines)
        if TOOL_OUTPUT.search(line)
    ]
    assert unrun == [], "tool output outside a ```console block, which no test runs"


@pytest.mark.parametrize("block", CONSOLE, ids=[f"line-{b.line}" for b in CONSOLE])
def test_readme_example(block: Block, tmp_path: Path):
    binary = str(require_proxy_binary())
    cwd = REPO
    if "test" in block.markers:
        setup = json.loads(block.markers["test"])
        for path, spec in setup["files"].items():
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source_text(spec, NAMED))
        cwd = tmp_path
    for command in commands(block):
        assert command.argv[0] == PROGRAM, f"README.md:{block.line}: {command.argv}"
        done = subprocess.run(
            [binary, *command.argv[1:]],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=30,
        )
        actual = [line.rstrip() for line in done.stdout.rstrip("\n").splitlines()]
        expected = [line.rstrip() for line in command.expected]
        assert matches(expected, actual), (
            f"README.md:{block.line}: `{shlex.join(command.argv)}` prints, with exit code {done.returncode}:\n"
            + "\n".join(actual)
            + "\n\nbut README.md shows:\n"
            + "\n".join(expected)
        )


def test_the_matcher():
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert matches(["a", "...", "z"], ["a", "z"])
    assert not matches(["a", "...", "z"], ["a", "b"])
    assert not matches(["a"], ["a", "b"])
    assert not matches(["a", "b"], ["a"])
    parsed = blocks("<!-- readme-file: x.yaml -->\n```yaml\nk: v\n```\n\n```console\n$ a \\\n  b\nout\n```\n")
    assert [(b.language, b.markers) for b in parsed] == [("yaml", {"file": "x.yaml"}), ("console", {})]
    [command] = commands(parsed[1])
    assert (command.argv, command.expected) == (["a", "b"], ["out"])
    # A marker followed by prose marks nothing.
    assert blocks("<!-- readme-file: x -->\ntext\n```\n```\n")[0].markers == {}


# ---- the denial the README shows -----------------------------------------------
def _fenced_after(text: str, heading: str, language: str, nth: int = 0) -> str:
    """The body of the nth ```language block after a heading."""
    section = text[text.index(heading) :]
    found = [b for b in blocks(section) if b.language == language]
    return "\n".join(found[nth].lines)


def test_the_readme_denial_is_what_the_cli_and_the_wire_show(tmp_path: Path):
    """The README's aws CLI call, against the shipped default config (on a
    free port), prints the README's denial; a raw POST of it gets the
    README's XML, request id aside, with that id in the header too."""
    import http.client
    import os
    import signal

    from conftest import AWS_CLI, proxy_env
    from harness.processes import free_port, wait_until_listening

    text = README.read_text()
    command = _fenced_after(text, "## Using it from the aws CLI and boto3", "sh")
    printed = _fenced_after(text, "### What a denial looks like", "text")
    wire = _fenced_after(text, "### What a denial looks like", "xml")

    port = free_port()
    config = (REPO / "config" / "proxy.yaml").read_text()
    config = config.replace('listen: "127.0.0.1:8080"', f'listen: "127.0.0.1:{port}"')
    config = config.replace('admin_listen: "127.0.0.1:9090"', f'admin_listen: "127.0.0.1:{free_port()}"')
    config = config.replace('policy: "../policies/default.yaml"', f'policy: "{REPO / "policies" / "default.yaml"}"')
    (tmp_path / "proxy.yaml").write_text(config)
    stderr = tmp_path / "stderr.log"
    with open(stderr, "w") as err, open(tmp_path / "audit.log", "w") as out:
        proc = subprocess.Popen(
            [str(require_proxy_binary()), "serve", "--config", str(tmp_path / "proxy.yaml")],
            stdout=out, stderr=err, env=proxy_env(),
        )
    try:
        wait_until_listening(proc, port, stderr)
        # The README's command, up to the comment, pointed at this port.
        words = shlex.split(command.split("\n#")[0].replace("\\\n", " "))
        assert words[:2] == ["aws", "elasticache"], words
        words = [w.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for w in words]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
            "AWS_ACCESS_KEY_ID": "AKIDREADMEEXAMPLE001", "AWS_SECRET_ACCESS_KEY": "readme-secret",
            "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
        }
        result = subprocess.run([str(AWS_CLI), *words[1:]], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 255, result
        assert result.stderr.strip() == printed.strip()

        body = "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02&CacheSecurityGroupName=prod-web" \
            "&EC2SecurityGroupName=app-frontend&EC2SecurityGroupOwnerId=123456781234"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        # Unsigned, so the region comes from an ElastiCache Host.
        conn.request(
            "POST",
            "/",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Host": "elasticache.us-east-1.amazonaws.com"},
        )
        answer = conn.getresponse()
        xml = answer.read().decode()
        assert (answer.status, answer.getheader("Content-Type")) == (400, "text/xml")
        request_id = answer.getheader("x-amzn-RequestId")
        expected = re.sub(r"<RequestId>[^<]+</RequestId>", f"<RequestId>{request_id}</RequestId>", wire.strip())
        assert xml.strip() == expected
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
