"""The shipped deployment files, parsed, and the proxy started on each
shipped config. Shared by the tests of tests/deploy/."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.aws import sigv4_headers
from harness.certs import TestCA
from harness.processes import PROXY_BIN, REPO, free_port, poll, spawn

DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
SYSTEMD_UNIT = DEPLOY / "systemd" / "elasticache-authz-proxy.service"
SYSTEMD_CONFIG = DEPLOY / "systemd" / "proxy.yaml"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
GRAFANA = DEPLOY / "grafana"

IMAGE_NAME = "elasticache-authz-proxy"
CENTRAL_NAMESPACE = "elasticache-authz-proxy"
# Kinds that are not in Kubernetes' own schemas, checked structurally instead.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
# The config keys that name files.
PATH_KEYS = [("policy",), ("callers",), ("tls", "cert"), ("tls", "key"), ("tls", "client_ca"), ("audit_log",)]
# The default shutdown_grace (README "Configuration").
DEFAULT_SHUTDOWN_GRACE = 30.0


# ---- files -------------------------------------------------------------------
def load_documents(path: Path) -> list[dict]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def manifest_files(deployment: str) -> list[Path]:
    return sorted((KUBERNETES / deployment).glob("*.yaml"))


def deployments() -> list[str]:
    return sorted(p.name for p in KUBERNETES.iterdir() if p.is_dir())


def manifests(deployment: str | None = None) -> list[tuple[Path, dict]]:
    names = [deployment] if deployment else deployments()
    return [(path, doc) for name in names for path in manifest_files(name) for doc in load_documents(path)]


# Every config the deployments ship, by deployment.
SHIPPED_CONFIGS = ["docker", *deployments(), "systemd"]


def cargo_version() -> str:
    with (REPO / "Cargo.toml").open("rb") as f:
        return tomllib.load(f)["package"]["version"]


def parse_duration(text: str) -> float:
    """A duration of the config (`500ms`, `10s`, `2m`) or of systemd (`45s`), in seconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", str(text).strip())
    assert match, f"`{text}` is not a duration"
    return int(match[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match[2]]


def get(config: dict, keys: tuple[str, ...]):
    for key in keys:
        if not isinstance(config, dict) or key not in config:
            return None
        config = config[key]
    return config


def set_(config: dict, keys: tuple[str, ...], value) -> None:
    for key in keys[:-1]:
        config = config[key]
    config[keys[-1]] = value


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def host_of(address: str) -> str:
    return address.rsplit(":", 1)[0].strip("[]")


# ---- Kubernetes workloads ------------------------------------------------------
@dataclass
class Workload:
    """The pod of a deployment that runs the proxy, with its config."""

    deployment: str
    docs: list[dict]
    obj: dict
    pod: dict
    proxy: dict
    proxy_is_init: bool
    config_path: str
    config_map: dict
    config_text: str

    @property
    def config(self) -> dict:
        return yaml.safe_load(self.config_text)

    @property
    def pod_labels(self) -> dict:
        return self.obj["spec"]["template"]["metadata"].get("labels", {})

    @property
    def annotations(self) -> dict:
        return self.obj["spec"]["template"]["metadata"].get("annotations", {})

    @property
    def other_containers(self) -> list[dict]:
        spec = self.pod
        return [c for c in spec.get("initContainers", []) + spec["containers"] if c is not self.proxy]

    def volume(self, name: str) -> dict:
        return next(v for v in self.pod.get("volumes", []) if v["name"] == name)

    def container_port(self, port) -> int:
        """A probe's or Service's port, by number or by the proxy container's port name."""
        if isinstance(port, int):
            return port
        for p in self.proxy.get("ports", []):
            if p.get("name") == port:
                return p["containerPort"]
        raise AssertionError(f"{self.deployment}: no port named `{port}` on the proxy container")

    def mount_for(self, path: str) -> tuple[dict, dict, str]:
        """The proxy's volume mount holding an absolute path, its volume, and the file's key."""
        best = None
        for mount in self.proxy.get("volumeMounts", []):
            prefix = mount["mountPath"].rstrip("/") + "/"
            if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
                best = (prefix, mount)
        assert best, f"{self.deployment}: `{path}` is on no volume mounted into the proxy container"
        prefix, mount = best
        return mount, self.volume(mount["name"]), path[len(prefix):]


def is_proxy_container(container: dict) -> bool:
    image = container.get("image", "")
    return image.rsplit("/", 1)[-1].split(":")[0] == IMAGE_NAME


def workload(deployment: str) -> Workload:
    docs = [doc for _, doc in manifests(deployment)]
    objs = [d for d in docs if d["kind"] == "Deployment"]
    assert len(objs) == 1, f"{deployment}: expected one Deployment, found {len(objs)}"
    obj = objs[0]
    pod = obj["spec"]["template"]["spec"]
    found = [(c, True) for c in pod.get("initContainers", []) if is_proxy_container(c)]
    found += [(c, False) for c in pod["containers"] if is_proxy_container(c)]
    assert len(found) == 1, f"{deployment}: expected one proxy container, found {len(found)}"
    proxy, is_init = found[0]
    args = proxy.get("args", [])
    assert len(args) == 3 and args[:2] == ["serve", "--config"], f"{deployment}: proxy args {args}"
    config_path = args[2]
    w = Workload(deployment, docs, obj, pod, proxy, is_init, config_path, {}, "")
    mount, volume, key = w.mount_for(config_path)
    assert "configMap" in volume, f"{deployment}: the config is not from a ConfigMap"
    name = volume["configMap"]["name"]
    cms = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name]
    assert cms, f"{deployment}: ConfigMap `{name}` is not among the manifests"
    assert key in cms[0].get("data", {}), f"{deployment}: ConfigMap `{name}` has no key `{key}`"
    w.config_map = cms[0]
    w.config_text = cms[0]["data"][key]
    return w


def subset(match: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in match.items())


def label_selector_matches(selector: dict, labels: dict) -> bool:
    """A LabelSelector ({matchLabels}; matchExpressions are not used here)."""
    assert not selector.get("matchExpressions"), "matchExpressions are not checked here"
    return subset(selector.get("matchLabels", {}), labels)


# ---- the Dockerfile ------------------------------------------------------------
def dockerfile():
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(DOCKERFILE))
    return parser


def final_stage(instructions: list[dict]) -> list[dict]:
    starts = [i for i, ins in enumerate(instructions) if ins["instruction"] == "FROM"]
    return instructions[starts[-1]:]


def exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(x, str) for x in parsed), value
    return parsed


def copy_instructions(stage: list[dict]) -> list[tuple[list[str], str, list[str]]]:
    """(sources, destination, flags) of each COPY of a stage."""
    out = []
    for ins in stage:
        if ins["instruction"] != "COPY":
            continue
        words = shlex.split(ins["value"])
        flags = [w for w in words if w.startswith("--")]
        rest = [w for w in words if not w.startswith("--")]
        out.append((rest[:-1], rest[-1], flags))
    return out


# ---- the systemd unit ----------------------------------------------------------
def unit_directives(path: Path = SYSTEMD_UNIT) -> list[tuple[str, str, str]]:
    """(section, key, value) of every line; keys may repeat, unlike configparser's."""
    out, section = [], None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def unit_values(key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in unit_directives() if s == section and k == key]


# ---- running the proxy on a shipped config ---------------------------------------
# The proxy's own identity for the runs: never used, the upstream is a closed port.
PROXY_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# The uid systemd's DynamicUser= might pick (its range is 61184-65519).
DYNAMIC_UID = 61184
# A Kubernetes Secret or ConfigMap volume as the kubelet writes it: the files
# in a timestamped folder, `..data` pointing to it, and a symlink per key.
ATOMIC_DIR = "..2026_01_01_00_00_00.000000000"


@dataclass
class Layout:
    """A shipped config laid out under a fake root as its deployment would."""

    name: str
    root: Path
    config_path: str  # inside the deployment
    env: dict[str, str]
    run_as: tuple[int, int, list[int]] | None  # uid, gid, supplementary groups
    # Secret files: path under root, owner uid, mode (what the deployment gives).
    secret_files: list[tuple[Path, int, int]] = field(default_factory=list)

    def at(self, path: str) -> Path:
        return self.root / path.lstrip("/")


@dataclass
class Answer:
    status: int
    body: str


@dataclass
class ProxyRun:
    layout: Layout
    config: dict
    callers: list[dict]
    ran_as: str
    ready: bool = False
    answers: dict[str, Answer] = field(default_factory=dict)
    metrics: str = ""
    audit: list[dict] = field(default_factory=list)
    exit_code: int | None = None
    stop_seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""

    def log(self) -> str:
        return f"--- proxy stderr ({self.layout.name}) ---\n{self.stderr}\n--- stdout ---\n{self.stdout}"


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def _atomic_volume(target: Path, files: dict[str, str | bytes], mode: int) -> list[Path]:
    """Writes a volume the way the kubelet does; returns the real files."""
    real = target / ATOMIC_DIR
    real.mkdir(parents=True, exist_ok=True)
    out = []
    for key, data in files.items():
        _write(real / key, data, mode)
        out.append(real / key)
    (target / "..data").symlink_to(ATOMIC_DIR)
    for key in files:
        (target / key).symlink_to(f"..data/{key}")
    return out


def _tls_material() -> dict[str, bytes]:
    """A CA and a server certificate for 127.0.0.1 and localhost, as PEM."""
    with tempfile.TemporaryDirectory() as folder:
        ca = TestCA(Path(folder), "deploy test CA")
        server = ca.server()
        return {"ca": ca.pem.read_bytes(), "cert": server.cert.read_bytes(), "key": server.key.read_bytes()}


def _caller_names(policy_file: Path) -> list[str]:
    policy = yaml.safe_load(policy_file.read_text()) or {}
    names = sorted({n for rule in policy.get("rules", []) for n in rule.get("callers", [])})
    return names or ["deploy-test"]


def _callers_file(names: list[str]) -> tuple[str, list[dict]]:
    callers = [{"name": n, "access_key_id": "AKIA" + secrets.token_hex(8).upper(),
                "secret_access_key": secrets.token_urlsafe(30)} for n in names]
    return yaml.safe_dump({"callers": callers}, sort_keys=False), callers


def _secret_content(role: tuple[str, ...], tls: dict[str, bytes], callers_text: str) -> bytes:
    return {
        ("callers",): callers_text.encode(),
        ("tls", "cert"): tls["cert"],
        ("tls", "key"): tls["key"],
        ("tls", "client_ca"): tls["ca"],
    }[role]


def layout_kubernetes(deployment: str, root: Path) -> tuple[Layout, dict, str | None]:
    w = workload(deployment)
    config = w.config
    security = w.pod.get("securityContext", {})
    fs_group = security.get("fsGroup")
    env = {e["name"]: e["value"] for e in w.proxy.get("env", []) if "value" in e}
    run_as = (security["runAsUser"], security.get("runAsGroup", security["runAsUser"]),
              [fs_group] if fs_group is not None else [])
    layout = Layout(deployment, root, w.config_path, env, run_as)
    # The files the config names, grouped by the volume they are on.
    wanted: dict[str, dict[str, tuple[str, ...] | None]] = {}
    for keys in PATH_KEYS:
        value = get(config, keys)
        if isinstance(value, str) and value.startswith("/"):
            mount, volume, key = w.mount_for(value)
            assert mount.get("subPath") is None, f"{deployment}: {mount['name']} uses subPath"
            wanted.setdefault(mount["name"], {})[key] = keys
    tls = _tls_material()
    callers_text = None
    mounts = w.proxy.get("volumeMounts", [])
    # ConfigMaps first: the callers generated for a Secret are the policy's.
    for mount in sorted(mounts, key=lambda m: "secret" in w.volume(m["name"])):
        volume = w.volume(mount["name"])
        target = layout.at(mount["mountPath"])
        if "configMap" in volume:
            cm = next(d for d in w.docs if d["kind"] == "ConfigMap"
                      and d["metadata"]["name"] == volume["configMap"]["name"])
            _atomic_volume(target, cm.get("data", {}), volume["configMap"].get("defaultMode", 0o644))
        elif "secret" in volume:
            mode = volume["secret"].get("defaultMode", 0o644)
            files = {}
            for key, role in wanted.get(mount["name"], {}).items():
                if role == ("callers",):
                    policy = str(Path(w.config_path).parent / get(config, ("policy",)))
                    callers_text, _ = _callers_file(_caller_names(layout.at(policy)))
                files[key] = _secret_content(role, tls, callers_text or "")
            for real in _atomic_volume(target, files, mode):
                layout.secret_files.append((real, 0, mode))
        else:
            target.mkdir(parents=True, exist_ok=True)
    return layout, tls, callers_text


def layout_docker(root: Path) -> tuple[Layout, dict, str | None]:
    instructions = dockerfile().structure
    stage = final_stage(instructions)
    for sources, dest, flags in copy_instructions(stage):
        if any(f.startswith("--from") for f in flags):
            continue
        for src in sources:
            source = REPO / src
            target = root / dest.lstrip("/")
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                if dest.endswith("/"):
                    target = target / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target)
    cmd = exec_form(next(i["value"] for i in stage if i["instruction"] == "CMD"))
    assert cmd[:2] == ["serve", "--config"], cmd
    user = next(i["value"] for i in stage if i["instruction"] == "USER")
    uid, _, gid = user.partition(":")
    layout = Layout("docker", root, cmd[2], {}, (int(uid), int(gid or uid), []))
    return layout, _tls_material(), None


def layout_systemd(root: Path) -> tuple[Layout, dict, str | None]:
    exec_start = shlex.split(unit_values("ExecStart")[0])
    config_path = exec_start[exec_start.index("--config") + 1]
    layout = Layout("systemd", root, config_path, {}, (DYNAMIC_UID, DYNAMIC_UID, []))
    _write(layout.at(config_path), SYSTEMD_CONFIG.read_text())
    config = yaml.safe_load(SYSTEMD_CONFIG.read_text())
    # deploy/README.md installs the default policy as the unit's policy file.
    _write(layout.at(config["policy"]), (REPO / "policies" / "default.yaml").read_text())
    tls = _tls_material()
    callers_text, _ = _callers_file(_caller_names(layout.at(config["policy"])))
    # LoadCredential=NAME:SOURCE gives $CREDENTIALS_DIRECTORY/NAME, owned by
    # the service's user, mode 0400.
    unit = SYSTEMD_UNIT.name
    for cred in unit_values("LoadCredential"):
        name, _, _source = cred.partition(":")
        path = layout.at(f"/run/credentials/{unit}/{name}")
        role = next((keys for keys in PATH_KEYS if get(config, keys) == f"/run/credentials/{unit}/{name}"), None)
        assert role, f"credential `{name}` is not used by {SYSTEMD_CONFIG.name}"
        _write(path, _secret_content(role, tls, callers_text), 0o400)
        layout.secret_files.append((path, DYNAMIC_UID, 0o400))
    return layout, tls, callers_text


def _prepare_permissions(layout: Layout) -> str:
    """Owners and modes as the deployment gives them, if this process may
    set them (root); else the owner-only equivalent for this user."""
    if os.geteuid() == 0 and layout.run_as:
        uid, gid, groups = layout.run_as
        for path, owner, mode in layout.secret_files:
            os.chown(path, owner if owner else 0, (groups[0] if groups else gid) if owner == 0 else gid)
            path.chmod(mode)
        for dirpath, dirnames, filenames in os.walk(layout.root):
            for d in dirnames:
                p = Path(dirpath) / d
                if not p.is_symlink():
                    p.chmod(0o755)
        layout.root.chmod(0o755)
        return f"uid {uid}, gid {gid}, groups {groups}"
    for path, _, _ in layout.secret_files:
        path.chmod(0o600)
    return f"uid {os.geteuid()} (not root: secret files are 0600 and owned by it)"


def _http(url: str, method: str = "GET", body: str | None = None, headers: dict | None = None,
          context: ssl.SSLContext | None = None) -> Answer:
    request = urllib.request.Request(url, data=body.encode() if body is not None else None,
                                     method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                         urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return Answer(response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read().decode())


# Requests every shipped policy decides the same way: a read in us-east-1 is
# allowed (and then fails upstream, a closed port), an ingress change to a
# payments group is denied.
ALLOWED_READ = "Action=DescribeCacheClusters&Version=2015-02-02"
DENIED_INGRESS = ("Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02"
                  "&CacheSecurityGroupName=prod-payments-1&EC2SecurityGroupName=app-frontend"
                  "&EC2SecurityGroupOwnerId=123456781234")


def run_shipped_config(name: str, root: Path, proxy_bin: Path = PROXY_BIN) -> ProxyRun:
    """Lays out the config of deployment `name` (docker, systemd, or a
    folder of deploy/kubernetes) under `root`, starts the real proxy on it
    with local addresses, talks to it, and stops it with SIGTERM."""
    if name == "docker":
        layout, tls, callers_text = layout_docker(root)
    elif name == "systemd":
        layout, tls, callers_text = layout_systemd(root)
    else:
        layout, tls, callers_text = layout_kubernetes(name, root)
    config_file = layout.at(layout.config_path)
    shipped = yaml.safe_load(config_file.read_text())
    callers = yaml.safe_load(callers_text)["callers"] if callers_text else []

    # The same config with local addresses and paths under the fake root.
    local = yaml.safe_load(config_file.read_text())
    for keys in PATH_KEYS:
        value = get(local, keys)
        if isinstance(value, str) and value.startswith("/"):
            set_(local, keys, str(layout.at(value)))
    data_port, admin_port = free_port(), free_port()
    local["listen"] = f"127.0.0.1:{data_port}"
    assert "admin_listen" in local, f"{name}: no admin_listen, so no probes and no metrics"
    local["admin_listen"] = f"127.0.0.1:{admin_port}"
    local.setdefault("upstream", {})["endpoint"] = f"http://127.0.0.1:{free_port()}"
    config_file.write_text(yaml.safe_dump(local, sort_keys=False))

    home = root / "home"
    home.mkdir(exist_ok=True)
    (home / "aws-config").write_text("")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "AWS_CONFIG_FILE": str(home / "aws-config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-config"), **layout.env, **PROXY_ENV}
    ran_as = _prepare_permissions(layout)
    run = ProxyRun(layout, shipped, callers, ran_as)

    scheme = "https" if local.get("tls") else "http"
    context = None
    if scheme == "https":
        assert not get(local, ("tls", "client_ca")), "mTLS configs need a client certificate here"
        context = ssl.create_default_context(cadata=tls["ca"].decode())
    data_url = f"{scheme}://127.0.0.1:{data_port}/"
    admin = f"http://127.0.0.1:{admin_port}"
    user = {}
    if os.geteuid() == 0 and layout.run_as:
        user = {"user": layout.run_as[0], "group": layout.run_as[1], "extra_groups": layout.run_as[2]}
    out, err = root / "stdout.log", root / "stderr.log"
    process = spawn([str(proxy_bin), "serve", "--config", str(config_file)], out, err, env=env, **user)
    try:

        def state() -> str | None:
            if process.poll() is not None:
                return "exited"
            try:
                return "ready" if _http(admin + "/readyz").status == 200 else None
            except OSError:
                return None

        run.ready = poll(state, timeout=20, interval=0.1) == "ready"
        if run.ready:
            run.answers["healthz"] = _http(admin + "/healthz")
            run.answers["readyz"] = _http(admin + "/readyz")
            key_id, secret = ((callers[0]["access_key_id"], callers[0]["secret_access_key"]) if callers
                              else (PROXY_ENV["AWS_ACCESS_KEY_ID"], PROXY_ENV["AWS_SECRET_ACCESS_KEY"]))
            for label, body in [("allowed", ALLOWED_READ), ("denied", DENIED_INGRESS)]:
                headers = sigv4_headers(data_url, body, (key_id, secret))
                run.answers[label] = _http(data_url, "POST", body, headers, context)
            if callers:
                run.answers["unsigned"] = _http(
                    data_url, "POST", ALLOWED_READ,
                    {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, context)
            run.answers["reload"] = _http(admin + "/reload", "POST", "")
            run.metrics = _http(admin + "/metrics").body
        if process.poll() is None:
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            grace = parse_duration(shipped.get("shutdown_grace", "30s"))
            try:
                run.exit_code = process.wait(timeout=grace + 10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            run.stop_seconds = time.monotonic() - started
        else:
            run.exit_code = process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    run.stdout = out.read_text(errors="replace")
    run.stderr = err.read_text(errors="replace")
    for line in run.stdout.splitlines():
        try:
            run.audit.append(json.loads(line))
        except ValueError:
            pass
    return run
