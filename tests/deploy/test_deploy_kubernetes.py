"""The Kubernetes manifests of deploy/kubernetes/: valid against the
Kubernetes schemas (kubernetes-validate, offline), and consistent with the
proxy's config in their ConfigMap and with each other."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from .deploy_support import (
    CENTRAL_NAMESPACE,
    CUSTOM_KINDS,
    DEPLOY,
    PATH_KEYS,
    DEFAULT_SHUTDOWN_GRACE,
    cargo_version,
    deployments,
    dockerfile,
    exec_form,
    final_stage,
    get,
    host_of,
    is_proxy_container,
    label_selector_matches,
    manifests,
    parse_duration,
    port_of,
    subset,
    workload,
)

# The oldest Kubernetes the manifests support (native sidecars: 1.29) and the
# newest the validator knows.
KUBERNETES_VERSIONS = ["1.29.0", latest_version()]
# What each deployment must ship (deploy/README.md describes them).
REQUIRED_KINDS = {
    "sidecar": {"Deployment", "ConfigMap", "ServiceAccount", "NetworkPolicy"},
    "central": {"Deployment", "ConfigMap", "ServiceAccount", "Service", "PodDisruptionBudget",
                "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor"},
}
DEPLOYMENTS = deployments()


def _id(item):
    path, doc = item
    return f"{path.parent.name}/{path.name}:{doc['kind']}/{doc['metadata']['name']}"


ALL = manifests()
BUILTIN = [m for m in ALL if (m[1]["apiVersion"], m[1]["kind"]) not in CUSTOM_KINDS]


def test_the_deployments_are_there():
    assert set(DEPLOYMENTS) == set(REQUIRED_KINDS)
    for name, kinds in REQUIRED_KINDS.items():
        shipped = {doc["kind"] for _, doc in manifests(name)}
        assert kinds <= shipped, f"{name}: missing {kinds - shipped}"


@pytest.mark.parametrize("item", BUILTIN, ids=[_id(m) for m in BUILTIN])
def test_manifest_matches_the_kubernetes_schema(item, no_network):
    path, doc = item
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path_in_doc = ".".join(str(p) for p in error.path)
            pytest.fail(f"{path}: {doc['kind']} against Kubernetes {version}: {path_in_doc}: {error.message}")


def test_custom_kinds_are_only_the_known_ones():
    for path, doc in ALL:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
        except kubernetes_validate.utils.SchemaNotFoundError:
            pytest.fail(f"{path}: {doc['apiVersion']} {doc['kind']} is neither in Kubernetes nor checked here")
        except kubernetes_validate.ValidationError:
            pass  # reported by test_manifest_matches_the_kubernetes_schema


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_names_labels_and_namespaces(deployment):
    seen = set()
    for path, doc in manifests(deployment):
        meta = doc["metadata"]
        key = (doc["kind"], meta["name"])
        assert key not in seen, f"{path}: {key} twice"
        seen.add(key)
        assert meta.get("labels", {}).get("app.kubernetes.io/name"), f"{path}: no app.kubernetes.io/name label"
        if deployment == "central":
            assert meta.get("namespace") == CENTRAL_NAMESPACE, f"{path}: namespace"
        else:
            # Applied into the application's own namespace with `kubectl -n`.
            assert "namespace" not in meta, f"{path}: a sidecar manifest names a namespace"


def test_servicemonitor_scrapes_the_admin_port():
    w = workload("central")
    monitors = [doc for _, doc in manifests("central") if doc["kind"] == "ServiceMonitor"]
    assert len(monitors) == 1
    monitor = monitors[0]
    # The structure the Prometheus Operator's CRD requires.
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert isinstance(monitor["metadata"].get("name"), str)
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels",
                         "podTargetLabels", "sampleLimit"}, set(spec)
    assert isinstance(spec["selector"].get("matchLabels"), dict) and spec["selector"]["matchLabels"]
    assert isinstance(spec["endpoints"], list) and spec["endpoints"]
    namespaces = spec.get("namespaceSelector", {}).get("matchNames", [monitor["metadata"]["namespace"]])
    services = [d for d in w.docs if d["kind"] == "Service" and d["metadata"]["namespace"] in namespaces
                and label_selector_matches(spec["selector"], d["metadata"].get("labels", {}))]
    assert len(services) == 1, "the ServiceMonitor must select exactly the proxy's Service"
    service_ports = {p["name"]: p for p in services[0]["spec"]["ports"]}
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme", "relabelings",
                                 "metricRelabelings", "honorLabels"}, set(endpoint)
        assert endpoint["port"] in service_ports, f"the Service has no port named {endpoint['port']}"
        assert endpoint.get("path", "/metrics") == "/metrics"
        assert endpoint.get("scheme", "http") == "http", "the admin listener is plain HTTP"
        if "interval" in endpoint:
            parse_duration(endpoint["interval"])
        target = w.container_port(service_ports[endpoint["port"]]["targetPort"])
        assert target == port_of(w.config["admin_listen"]), "the ServiceMonitor scrapes another port than admin_listen"


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_proxy_image_is_the_one_the_dockerfile_builds(deployment):
    w = workload(deployment)
    image = w.proxy["image"]
    repository, _, tag = image.rpartition(":")
    assert tag == cargo_version(), f"{deployment}: image tag `{tag}` is not the crate's version {cargo_version()}"
    images = {c["image"] for _, doc in manifests() if doc["kind"] == "Deployment"
              for c in doc["spec"]["template"]["spec"]["containers"]
              + doc["spec"]["template"]["spec"].get("initContainers", []) if is_proxy_container(c)}
    assert images == {image}, f"the manifests name different proxy images: {images}"
    # `args` keep the image's ENTRYPOINT, so no `command` may replace it.
    stage = final_stage(dockerfile().structure)
    entrypoint = exec_form(next(i["value"] for i in stage if i["instruction"] == "ENTRYPOINT"))
    assert w.proxy.get("command", entrypoint) == entrypoint
    assert w.proxy.get("imagePullPolicy", "IfNotPresent") != "Always" or tag != "latest"


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_ports_match_the_config(deployment):
    w = workload(deployment)
    config = w.config
    ports = {p["containerPort"]: p for p in w.proxy.get("ports", [])}
    admin = config.get("admin_listen")
    assert admin, f"{deployment}: no admin_listen: no probes, no metrics"
    # The kubelet and Prometheus reach the pod's IP, not its loopback.
    assert host_of(admin) in ("0.0.0.0", "::"), \
        f"{deployment}: admin_listen {admin} is unreachable from outside the pod"
    assert port_of(admin) in ports and ports[port_of(admin)].get("name") == "admin"
    listen = config["listen"]
    if host_of(listen) in ("127.0.0.1", "::1", "localhost"):
        # A loopback listener is for containers of the same pod only.
        assert port_of(listen) not in ports, f"{deployment}: a containerPort for the loopback listener"
    else:
        assert port_of(listen) in ports, f"{deployment}: no containerPort for listen {listen}"
        expected = "https" if config.get("tls") else "http"
        assert ports[port_of(listen)].get("name") == expected
    for port in ports.values():
        assert port.get("protocol", "TCP") == "TCP"
        assert port["containerPort"] in (port_of(listen), port_of(admin)), f"{deployment}: stray port {port}"


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_probes_hit_healthz_and_readyz_on_the_admin_port(deployment):
    w = workload(deployment)
    admin = port_of(w.config["admin_listen"])
    expected = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe_name, path in expected.items():
        probe = w.proxy.get(probe_name)
        assert probe and "httpGet" in probe, f"{deployment}: no HTTP {probe_name}"
        assert probe["httpGet"]["path"] == path, f"{deployment}: {probe_name} path"
        assert w.container_port(probe["httpGet"]["port"]) == admin, f"{deployment}: {probe_name} port"
        assert probe["httpGet"].get("scheme", "HTTP") == "HTTP"
    if "startupProbe" in w.proxy:
        probe = w.proxy["startupProbe"]
        assert probe["httpGet"]["path"] in ("/healthz", "/readyz")
        assert w.container_port(probe["httpGet"]["port"]) == admin


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_termination_grace_outlasts_shutdown_grace(deployment):
    w = workload(deployment)
    grace = parse_duration(w.config.get("shutdown_grace", f"{int(DEFAULT_SHUTDOWN_GRACE)}s"))
    period = w.pod.get("terminationGracePeriodSeconds", 30)
    assert period > grace, f"{deployment}: terminationGracePeriodSeconds {period} <= shutdown_grace {grace}s"


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_pods_are_hardened(deployment):
    w = workload(deployment)
    pod_security = w.pod.get("securityContext", {})
    assert pod_security.get("runAsNonRoot") is True
    assert pod_security.get("runAsUser", 0) != 0
    assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    assert w.pod.get("automountServiceAccountToken") is False, "the proxy does not use the Kubernetes API"
    for container in w.pod["containers"] + w.pod.get("initContainers", []):
        name = f"{deployment}/{container['name']}"
        security = container.get("securityContext", {})
        assert security.get("allowPrivilegeEscalation") is False, name
        assert security.get("readOnlyRootFilesystem") is True, name
        assert security.get("capabilities", {}).get("drop") == ["ALL"], name
        assert not security.get("capabilities", {}).get("add"), name
        assert security.get("privileged", False) is False, name
        resources = container.get("resources", {})
        assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{name}: requests"
        assert "memory" in resources.get("limits", {}), f"{name}: memory limit"
    assert "cpu" in w.proxy["resources"].get("limits", {})
    if w.proxy_is_init:
        # A native sidecar: it runs for the pod's lifetime.
        assert w.proxy.get("restartPolicy") == "Always"


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_config_files_are_on_mounted_volumes(deployment):
    """Every file the config names is on a ConfigMap or Secret volume, mounted
    as a directory (a subPath mount never sees updates)."""
    w = workload(deployment)
    config = w.config
    for mount in w.proxy.get("volumeMounts", []):
        assert "subPath" not in mount and "subPathExpr" not in mount, f"{deployment}: {mount['name']} uses subPath"
        assert mount.get("readOnly") is True, f"{deployment}: {mount['name']} is writable"
    assert config.get("callers") != "none" or host_of(config["listen"]) == "127.0.0.1"
    for keys in PATH_KEYS:
        value = get(config, keys)
        if value in (None, "-", "none"):
            continue
        path = value if value.startswith("/") else f"{w.config_path.rsplit('/', 1)[0]}/{value}"
        _, volume, key = w.mount_for(path)
        if keys == ("policy",):
            assert "configMap" in volume, f"{deployment}: the policy is not from a ConfigMap"
            assert key in w.config_map["data"], f"{deployment}: the ConfigMap has no `{key}`"
        elif keys[0] in ("callers", "tls"):
            assert "secret" in volume, f"{deployment}: `{'.'.join(keys)}` is not from a Secret"
            if keys[0] == "tls":
                # `kubectl create secret tls` gives these keys.
                assert key in ("tls.crt", "tls.key", "ca.crt"), f"{deployment}: {key}"
        else:
            pytest.fail(f"{deployment}: `{'.'.join(keys)}` must stay on stdout in a pod, not {value}")


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_secret_volumes_satisfy_the_callers_file_rule(deployment):
    """Secret files are owned by root; the proxy runs as another user. It
    accepts a root-owned file that its group may read and others may not
    (PostgreSQL's rule), so the mode must be 0440 or 0400-with-group-read,
    and fsGroup must give the proxy that group."""
    w = workload(deployment)
    security = w.pod["securityContext"]
    for mount in w.proxy.get("volumeMounts", []):
        volume = w.volume(mount["name"])
        if "secret" not in volume:
            continue
        mode = volume["secret"].get("defaultMode", 0o644)
        assert mode & 0o037 == 0, f"{deployment}: {mount['name']}: mode {mode:04o} lets the group write or others read"
        assert mode & 0o040, f"{deployment}: {mount['name']}: mode {mode:04o} keeps the fsGroup from reading"
        assert not any("mode" in item for item in volume["secret"].get("items", []))
        assert security.get("fsGroup") is not None, f"{deployment}: no fsGroup: the proxy cannot read the Secret"
        assert security["fsGroup"] in (security.get("runAsGroup"), *security.get("supplementalGroups", []))


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_service_account_carries_the_aws_role(deployment):
    w = workload(deployment)
    name = w.pod.get("serviceAccountName")
    accounts = [d for d in w.docs if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == name]
    assert accounts, f"{deployment}: ServiceAccount `{name}` is not among the manifests"
    role = accounts[0]["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn", "")
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+", role), f"{deployment}: role-arn `{role}`"


def test_sidecar_app_reaches_elasticache_only_through_the_proxy():
    w = workload("sidecar")
    config = w.config
    assert w.proxy_is_init, "the proxy is a native sidecar, so it starts before the app and stops after it"
    listen = config["listen"]
    assert host_of(listen) == "127.0.0.1", "the sidecar listens on loopback only"
    scheme = "https" if config.get("tls") else "http"
    callers_volumes = {m["name"] for m in w.proxy.get("volumeMounts", []) if "secret" in w.volume(m["name"])}
    callers_secrets = {w.volume(n)["secret"]["secretName"] for n in callers_volumes}
    assert w.other_containers, "no application container"
    for app in w.other_containers:
        env = {e["name"]: e for e in app.get("env", [])}
        assert env["AWS_ENDPOINT_URL_ELASTICACHE"]["value"] == f"{scheme}://127.0.0.1:{port_of(listen)}"
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert ref["key"] == name
            assert ref["name"] not in callers_secrets, "the app must not get the proxy's callers Secret"
        assert not app.get("volumeMounts") or not {m["name"] for m in app["volumeMounts"]} & callers_volumes
    # IRSA: the role goes to the proxy only.
    skipped = {s.strip() for s in w.annotations.get("eks.amazonaws.com/skip-containers", "").split(",")}
    assert {c["name"] for c in w.other_containers} <= skipped
    assert w.proxy["name"] not in skipped
    assert not w.pod.get("shareProcessNamespace"), "a shared process namespace exposes the proxy's memory"
    # Prometheus scrapes the admin port.
    assert w.annotations.get("prometheus.io/scrape") == "true"
    assert int(w.annotations["prometheus.io/port"]) == port_of(config["admin_listen"])
    assert w.annotations.get("prometheus.io/path", "/metrics") == "/metrics"


def test_central_service_and_availability():
    w = workload("central")
    config = w.config
    docs = w.docs
    spec = w.obj["spec"]
    hpa_targets = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"
                   and d["spec"]["scaleTargetRef"]["name"] == w.obj["metadata"]["name"]]
    # With an autoscaler, a fixed count would be reset on every apply.
    assert "replicas" not in spec if hpa_targets else spec.get("replicas", 1) >= 2
    assert label_selector_matches(spec["selector"], w.pod_labels)
    assert spec.get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable") == 0
    spreads = w.pod.get("topologySpreadConstraints", [])
    anti = w.pod.get("affinity", {}).get("podAntiAffinity")
    assert anti or any(s["topologyKey"] == "kubernetes.io/hostname" for s in spreads), "replicas may share a node"
    for s in spreads:
        assert label_selector_matches(s["labelSelector"], w.pod_labels)

    (service,) = [d for d in docs if d["kind"] == "Service"]
    assert subset(service["spec"]["selector"], w.pod_labels), "the Service selects no proxy pod"
    wanted = {port_of(config["listen"]), port_of(config["admin_listen"])}
    targets = {w.container_port(p["targetPort"]) for p in service["spec"]["ports"]}
    assert targets == wanted, f"Service targets {targets}, config listens on {wanted}"

    (pdb,) = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert label_selector_matches(pdb["spec"]["selector"], w.pod_labels)
    (hpa,) = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("apps/v1", "Deployment", w.obj["metadata"]["name"])
    assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    if "maxUnavailable" in pdb["spec"]:
        assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]
    # The CPU target needs a CPU request on every container.
    assert all("cpu" in c["resources"]["requests"] for c in w.pod["containers"])


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_network_policy_keeps_the_admin_port_for_monitoring(deployment):
    w = workload(deployment)
    admin = port_of(w.config["admin_listen"])
    policies = [d for d in w.docs if d["kind"] == "NetworkPolicy"
                and label_selector_matches(d["spec"]["podSelector"], w.pod_labels)]
    assert policies, f"{deployment}: no NetworkPolicy selects the proxy's pods"
    for policy in policies:
        assert "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        for rule in policy["spec"].get("ingress", []):
            # A rule without ports opens every port, the admin one too.
            assert rule.get("ports"), f"{deployment}: an ingress rule without ports"
            ports = {w.container_port(p["port"]) for p in rule["ports"]}
            if admin in ports:
                assert ports == {admin}
                assert rule["from"] == [{"namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}], \
                    f"{deployment}: the admin port is open to more than the monitoring namespace"
            else:
                assert ports == {port_of(w.config["listen"])}, f"{deployment}: ingress to {ports}"
                for peer in rule.get("from", [None]):
                    assert peer, f"{deployment}: the data port is open to everyone"
                    assert "ipBlock" not in peer


def test_readme_explains_how_to_create_every_secret():
    readme = (DEPLOY / "README.md").read_text().replace("\\\n", " ")
    for path, doc in manifests():
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        names = {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        names |= {e["valueFrom"]["secretKeyRef"]["name"] for c in pod["containers"] + pod.get("initContainers", [])
                  for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
        for name in names:
            assert re.search(rf"kubectl\b[^\n]*create secret\b[^\n]*\b{re.escape(name)}\b", readme), \
                f"deploy/README.md does not show how to create Secret `{name}` ({path})"


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_policy_callers_are_the_ones_the_readme_creates(deployment):
    """The callers Secret is not shipped: the caller names the policy uses
    must be the ones deploy/README.md tells to create."""
    import yaml

    w = workload(deployment)
    policy = yaml.safe_load(w.config_map["data"][w.config["policy"].rsplit("/", 1)[-1]])
    names = {n for rule in policy["rules"] for n in rule.get("callers", [])}
    readme = (DEPLOY / "README.md").read_text()
    for name in names:
        assert re.search(rf"(name: {re.escape(name)}\\n|`{re.escape(name)}`)", readme), \
            f"{deployment}: the policy names caller `{name}`, which deploy/README.md never creates"
