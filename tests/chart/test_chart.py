"""The Helm chart: lint, render, server-side dry-run on the stack's API server, and the fields that matter.

Needs only the stack's Kubernetes API server and its tools (helm, kubectl on the env file's PATH):
`python -m drift_devstack --state-dir .dev/ship up kube` is enough.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, kubectl

CHART = REPO_ROOT / "charts" / "drift"
HERE = Path(__file__).parent
ALL_ON = HERE / "values-all-on.yaml"
SERVICE_MONITOR_CRD = HERE / "fixtures" / "servicemonitor-crd.yaml"
RELEASE = "drift"

# What the processes read (API.md, Operations, plus the worker's egress policy and the operator's namespace).
COMMON_ENV = {
    "DRIFT_TEMPORAL_ADDRESS",
    "DRIFT_TEMPORAL_NAMESPACE",
    "DRIFT_TASK_QUEUE",
    "DRIFT_REDIS_URL",
    "DRIFT_HBASE_HOST",
    "DRIFT_HBASE_PORT",
    "DRIFT_TABLE_PREFIX",
    "DRIFT_METRICS_PORT",
    "DRIFT_LOG_LEVEL",
    "DRIFT_CACHE_MEMORY_ENTRIES",
    "DRIFT_CACHE_MEMORY_TTL_SECONDS",
    "DRIFT_CACHE_REDIS_TTL_SECONDS",
}
OPERATOR_ONLY_ENV = {"DRIFT_WATCH_NAMESPACE"}
WORKER_ONLY_ENV = {"DRIFT_KAFKA_BOOTSTRAP", "DRIFT_EGRESS_ALLOW_CIDRS", "DRIFT_EGRESS_DENY_CIDRS"}
EVENTS_ONLY_ENV = {"DRIFT_EVENTS_PORT", "DRIFT_KAFKA_BOOTSTRAP", "DRIFT_TRIGGER_RECORD_PER_SECOND"}
ALL_ENV = COMMON_ENV | OPERATOR_ONLY_ENV | WORKER_ONLY_ENV | EVENTS_ONLY_ENV

Manifest = dict[str, Any]


def helm(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["helm", *args], capture_output=True, text=True, env=env, timeout=120, check=False)
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}: {result.stderr}"
    return result


@pytest.fixture(scope="module")
def namespaces(tools: dict[str, str]) -> Iterator[dict[str, str]]:
    """A release namespace, a namespace the operator watches in single-namespace mode, and one for Secrets."""
    suffix = uuid.uuid4().hex[:6]
    names = {"release": f"drift-rel-{suffix}", "watch": f"drift-runs-{suffix}", "secrets": f"drift-sec-{suffix}"}
    for name in names.values():
        kubectl("create", "namespace", name)
    yield names
    for name in names.values():
        kubectl("delete", "namespace", name, "--wait=false", check=False)


def render(env: dict[str, str], namespace: str, *values: str) -> list[Manifest]:
    """`helm template` output as objects; `values` are extra helm arguments (-f FILE, --set K=V)."""
    out = helm(env, "template", RELEASE, str(CHART), "--namespace", namespace, *values).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def all_on(namespaces: dict[str, str]) -> tuple[str, ...]:
    """values-all-on.yaml, its watched namespace replaced by this session's (so runs beside others never clash)."""
    return ("-f", str(ALL_ON), "--set", f"watchNamespace={namespaces['watch']}")


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]


def one(manifests: list[Manifest], kind: str, component: str | None = None) -> Manifest:
    matches = [
        m
        for m in find(manifests, kind)
        if component is None or m["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(matches) == 1, f"expected one {kind} {component or ''}, got {[m['metadata']['name'] for m in matches]}"
    return matches[0]


def container(deployment: Manifest) -> Manifest:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(deployment: Manifest) -> dict[str, Manifest]:
    return {item["name"]: item for item in container(deployment)["env"]}


def dry_run(manifests: list[Manifest]) -> str:
    result = kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(manifests))
    return result.stdout


@pytest.fixture(scope="module")
def service_monitor_crd(tools: dict[str, str]) -> None:
    """prometheus-operator's ServiceMonitor CRD, as a stub, unless the cluster already has the real one."""
    if kubectl("get", "crd", "servicemonitors.monitoring.coreos.com", check=False).returncode == 0:
        return
    kubectl("apply", "-f", str(SERVICE_MONITOR_CRD))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/servicemonitors.monitoring.coreos.com")
    deadline = time.monotonic() + 30
    while kubectl("get", "servicemonitors", "-A", check=False).returncode != 0:  # discovery lags a little
        assert time.monotonic() < deadline, "the ServiceMonitor stub CRD never became usable"
        time.sleep(0.5)


# --- lint and schema ---------------------------------------------------------------------------------------------


def test_helm_lint_passes_with_default_and_all_on_values(tools, namespaces):
    helm(tools, "lint", "--strict", str(CHART))
    helm(tools, "lint", "--strict", str(CHART), *all_on(namespaces))


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("bogus=1", "additional properties 'bogus' not allowed"),
        ("operator.replicas=2", "additional properties 'replicas' not allowed"),
        ("securityContext.readOnlyRootFilesystem=false", "readOnlyRootFilesystem"),
        ("podSecurityContext.runAsNonRoot=false", "runAsNonRoot"),
        ("temporal.address=no-port", "temporal/address"),
        ("egress.denyCIDRs[0]=not-a-cidr", "egress/denyCIDRs/0"),
        ("logLevel=LOUD", "logLevel"),
    ],
)
def test_the_values_schema_rejects_unknown_keys_and_bad_values(tools, setting, complaint):
    result = helm(tools, "template", RELEASE, str(CHART), "--set", setting, check=False)
    assert result.returncode != 0
    assert complaint in result.stderr


# --- server-side dry-run --------------------------------------------------------------------------------------


def test_the_chart_crds_pass_a_server_side_dry_run(tools):
    result = kubectl("apply", "--dry-run=server", "-f", str(CHART / "crds"))
    assert result.stdout.count("(server dry run)") == len(list((CHART / "crds").glob("*.yaml")))


def test_default_render_passes_a_server_side_dry_run(tools, namespaces):
    manifests = render(tools, namespaces["release"])
    out = dry_run(manifests)
    assert out.count("(server dry run)") == len(manifests)


def test_all_on_render_passes_a_server_side_dry_run(tools, namespaces, service_monitor_crd):
    manifests = render(tools, namespaces["release"], *all_on(namespaces))
    kinds = {m["kind"] for m in manifests}
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "Role", "RoleBinding"} <= kinds
    out = dry_run(manifests)
    assert out.count("(server dry run)") == len(manifests)


def test_per_namespace_secret_bindings_pass_a_server_side_dry_run(tools, namespaces):
    manifests = render(tools, namespaces["release"], "--set", f"worker.secretNamespaces={{{namespaces['secrets']}}}")
    out = dry_run(manifests)
    assert out.count("(server dry run)") == len(manifests)


# --- rendered fields -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default(tools, namespaces) -> list[Manifest]:
    return render(tools, namespaces["release"])


@pytest.fixture(scope="module")
def everything(tools, namespaces) -> list[Manifest]:
    return render(tools, namespaces["release"], *all_on(namespaces))


def test_every_namespaced_object_lands_in_the_release_namespace(default, namespaces):
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding"}
    for manifest in default:
        if manifest["kind"] not in cluster_scoped:
            assert manifest["metadata"]["namespace"] == namespaces["release"], manifest["metadata"]["name"]


@pytest.mark.parametrize("values", ["default", "everything"])
def test_the_operator_is_a_single_replica_recreated_on_upgrade(values, request):
    operator = one(request.getfixturevalue(values), "Deployment", "operator")
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("values", ["default", "everything"])
@pytest.mark.parametrize("component", ["operator", "worker"])
def test_pods_are_hardened(values, component, request):
    deployment = one(request.getfixturevalue(values), "Deployment", component)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container(deployment)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    # The only writable path: an emptyDir on /tmp (HOME and TMPDIR in the image).
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp
    assert {"name": "tmp", "mountPath": "/tmp"} in container(deployment)["volumeMounts"]  # noqa: S108 - the pod's own emptyDir


@pytest.mark.parametrize(("values", "port"), [("default", 9090), ("everything", 9191)])
@pytest.mark.parametrize("component", ["operator", "worker"])
def test_probes_and_services_use_the_metrics_port(values, port, component, request):
    manifests = request.getfixturevalue(values)
    deployment = one(manifests, "Deployment", component)
    main = container(deployment)
    assert main["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
    assert env_of(deployment)["DRIFT_METRICS_PORT"]["value"] == str(port)
    for probe in ("startupProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    service = one(manifests, "Service", component)
    assert service["spec"]["ports"][0]["port"] == port
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_default_env_maps_every_setting_from_values(default):
    operator_env = env_of(one(default, "Deployment", "operator"))
    worker_env = env_of(one(default, "Deployment", "worker"))
    assert set(operator_env) == COMMON_ENV  # no watch namespace: cluster-wide
    assert set(worker_env) == COMMON_ENV  # empty egress lists leave the worker's built-in policy
    assert operator_env["DRIFT_TEMPORAL_ADDRESS"]["value"] == "temporal-frontend.temporal.svc.cluster.local:7233"
    assert operator_env["DRIFT_TASK_QUEUE"]["value"] == "drift"
    assert operator_env["DRIFT_TABLE_PREFIX"]["value"] == "drift_"
    assert operator_env["DRIFT_HBASE_PORT"]["value"] == "9090"
    # A Redis URL given by value still reaches the pod through a Secret: URLs carry passwords.
    secret = one(default, "Secret")
    assert operator_env["DRIFT_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": secret["metadata"]["name"],
        "key": "redis-url",
    }
    assert "redis-url" in secret["data"]


def test_all_on_env_reads_existing_secrets_and_sets_every_variable(everything, namespaces):
    operator_env = env_of(one(everything, "Deployment", "operator"))
    worker_env = env_of(one(everything, "Deployment", "worker"))
    assert set(operator_env) == COMMON_ENV | OPERATOR_ONLY_ENV | {"EXTRA_OPERATOR_FLAG"}
    assert set(worker_env) == COMMON_ENV | WORKER_ONLY_ENV | {"EXTRA_WORKER_FLAG"}
    for env in (operator_env, worker_env):
        assert env["DRIFT_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "redis-credentials", "key": "url"}
        assert env["DRIFT_TEMPORAL_ADDRESS"]["valueFrom"]["secretKeyRef"] == {
            "name": "temporal-endpoint",
            "key": "address",
        }
        assert env["DRIFT_TEMPORAL_NAMESPACE"]["valueFrom"]["secretKeyRef"]["key"] == "namespace"
        assert env["DRIFT_HBASE_HOST"]["valueFrom"]["secretKeyRef"] == {"name": "hbase-endpoint", "key": "host"}
        assert env["DRIFT_HBASE_PORT"]["valueFrom"]["secretKeyRef"] == {"name": "hbase-endpoint", "key": "port"}
        assert env["DRIFT_TABLE_PREFIX"]["value"] == "acme_"
        assert env["DRIFT_LOG_LEVEL"]["value"] == "DEBUG"
        assert env["DRIFT_CACHE_MEMORY_TTL_SECONDS"]["value"] == "120.5"
    assert operator_env["DRIFT_WATCH_NAMESPACE"]["value"] == namespaces["watch"]
    assert worker_env["DRIFT_EGRESS_ALLOW_CIDRS"]["value"] == "10.20.0.0/16,192.168.10.0/24"
    assert worker_env["DRIFT_EGRESS_DENY_CIDRS"]["value"] == "169.254.169.254/32,fd00:ec2::254/128"
    assert not find(everything, "Secret")  # with an existingSecret the chart stores no Redis URL itself


def test_images_come_from_values(default, everything):
    assert container(one(default, "Deployment", "operator"))["image"] == "drift-operator:0.1.0"
    assert container(one(default, "Deployment", "worker"))["image"] == "drift-worker:0.1.0"
    operator = container(one(everything, "Deployment", "operator"))
    assert operator["image"] == f"registry.example.com/drift/drift-operator@sha256:{'0' * 63}1"  # digest wins
    assert (
        container(one(everything, "Deployment", "worker"))["image"] == "registry.example.com/drift/drift-worker:0.1.0"
    )


def _rules(role: Manifest) -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    return [
        (tuple(rule["apiGroups"]), tuple(rule["resources"]), tuple(sorted(rule["verbs"])))
        for rule in role.get("rules", [])
    ]


OPERATOR_NAMESPACED_RULES = [
    (
        ("drift.dev",),
        ("nodedefinitions", "workflows", "workflowruns", "workflowschedules", "workflowtriggers"),
        ("get", "list", "patch", "update", "watch"),
    ),
    (
        ("drift.dev",),
        (
            "nodedefinitions/status",
            "workflows/status",
            "workflowruns/status",
            "workflowschedules/status",
            "workflowtriggers/status",
        ),
        ("patch", "update"),
    ),
    (("drift.dev",), ("workflowruns/finalizers", "workflowschedules/finalizers"), ("update",)),
    (("drift.dev",), ("workflowruns",), ("create", "delete")),
    (("",), ("events",), ("create", "patch")),
]
CRD_READ_RULE = (("apiextensions.k8s.io",), ("customresourcedefinitions",), ("get", "list", "watch"))
WORKER_RULES = [(("",), ("secrets",), ("get",))]
EVENTS_RULES = [
    (("drift.dev",), ("workflowtriggers",), ("get", "list", "watch")),
    (("drift.dev",), ("workflowtriggers/status",), ("patch",)),
    (("drift.dev",), ("workflowruns",), ("create",)),
    (("",), ("secrets",), ("get",)),
]


def test_cluster_wide_rbac_is_least_privilege(default):
    assert not find(default, "Role")
    assert not find(default, "RoleBinding")
    operator_role = one(default, "ClusterRole", "operator")
    assert _rules(operator_role) == [*OPERATOR_NAMESPACED_RULES, CRD_READ_RULE]
    assert _rules(one(default, "ClusterRole", "worker")) == WORKER_RULES
    assert _rules(one(default, "ClusterRole", "events")) == EVENTS_RULES
    for binding in find(default, "ClusterRoleBinding"):
        component = binding["metadata"]["labels"]["app.kubernetes.io/component"]
        assert binding["roleRef"]["name"] == one(default, "ClusterRole", component)["metadata"]["name"]
        service_account = one(default, "ServiceAccount", component)
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": service_account["metadata"]["name"],
                "namespace": service_account["metadata"]["namespace"],
            }
        ]


def test_single_namespace_mode_uses_roles_in_the_watched_namespace(everything, namespaces):
    roles = {r["metadata"]["labels"]["app.kubernetes.io/component"]: r for r in find(everything, "Role")}
    assert set(roles) == {"operator", "worker", "events"}
    for role in roles.values():
        assert role["metadata"]["namespace"] == namespaces["watch"]
    assert _rules(roles["operator"]) == OPERATOR_NAMESPACED_RULES
    assert _rules(roles["worker"]) == WORKER_RULES  # Secrets of the watched namespace only
    assert _rules(roles["events"]) == EVENTS_RULES
    for binding in find(everything, "RoleBinding"):
        assert binding["metadata"]["namespace"] == namespaces["watch"]
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"][0]["namespace"] == namespaces["release"]
    # CRDs are cluster-scoped: reading them is the only cluster-wide grant left.
    (cluster_role,) = find(everything, "ClusterRole")
    assert _rules(cluster_role) == [CRD_READ_RULE]
    (cluster_binding,) = find(everything, "ClusterRoleBinding")
    assert cluster_binding["roleRef"]["name"] == cluster_role["metadata"]["name"]


def test_worker_secret_access_can_be_limited_to_listed_namespaces(tools, namespaces):
    manifests = render(tools, namespaces["release"], "--set", "worker.secretNamespaces={team-a,team-b}")
    assert _rules(one(manifests, "ClusterRole", "worker")) == WORKER_RULES
    assert {b["metadata"]["labels"]["app.kubernetes.io/component"] for b in find(manifests, "ClusterRoleBinding")} == {
        "operator",
        "events",
    }
    bindings = find(manifests, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    assert {b["roleRef"]["kind"] for b in bindings} == {"ClusterRole"}


def test_no_rule_grants_wildcards_or_writes_beyond_the_contract(default, everything):
    for manifests in (default, everything):
        for role in find(manifests, "Role") + find(manifests, "ClusterRole"):
            for groups, resources, verbs in _rules(role):
                assert "*" not in groups + resources + verbs
                if resources == ("workflowruns",) and verbs in (("create", "delete"), ("create",)):
                    continue  # the runs of schedules and triggers; finished runs past their TTL or history limit
                assert not {"create", "delete", "deletecollection"} & set(verbs) or resources == ("events",)


def test_worker_replicas_autoscaling_and_disruption_budget(default, everything):
    worker = one(default, "Deployment", "worker")
    assert worker["spec"]["replicas"] == 2
    assert not find(default, "HorizontalPodAutoscaler")
    assert not find(default, "PodDisruptionBudget")
    assert not find(default, "ServiceMonitor")

    worker = one(everything, "Deployment", "worker")
    assert "replicas" not in worker["spec"]  # the HPA owns it
    hpa = one(everything, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "acme-drift-worker"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    pdb = one(everything, "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": "25%", "selector": worker["spec"]["selector"]}
    assert container(worker)["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}


def test_service_monitor_scrapes_both_metrics_services(everything, namespaces):
    monitor = one(everything, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "5s"}
    ]
    selector = monitor["spec"]["selector"]
    for component in ("operator", "worker"):
        labels = one(everything, "Service", component)["metadata"]["labels"]
        assert selector["matchLabels"].items() <= labels.items()
        assert labels["app.kubernetes.io/component"] in selector["matchExpressions"][0]["values"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [namespaces["release"]]}


def test_the_redis_url_secret_change_rolls_the_pods(tools, namespaces):
    def checksum(url: str) -> str:
        manifests = render(tools, namespaces["release"], "--set", f"redis.url={url}")
        template = one(manifests, "Deployment", "worker")["spec"]["template"]
        return template["metadata"]["annotations"]["checksum/backends"]

    assert checksum("redis://a:6379/0") != checksum("redis://b:6379/0")


# --- documentation ---------------------------------------------------------------------------------------------


def _leaf_paths(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        # Maps of free-form settings (resources, probes, security contexts) are documented as one value.
        if isinstance(value, dict) and value and not path.endswith(("Probe", "resources", "ecurityContext")):
            yield from _leaf_paths(value, f"{path}.")
        else:
            yield path


def test_every_value_and_variable_is_documented():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for doc in (CHART / "README.md", REPO_ROOT / "docs" / "install.md"):
        text = doc.read_text()
        missing_values = [path for path in _leaf_paths(values) if f"`{path}`" not in text]
        assert not missing_values, f"{doc.relative_to(REPO_ROOT)} does not document {missing_values}"
        missing_env = sorted(name for name in ALL_ENV if f"`{name}`" not in text)
        assert not missing_env, f"{doc.relative_to(REPO_ROOT)} does not document {missing_env}"


def test_drift_events_runs_with_its_receiver_service_and_can_be_left_out(default, tools, namespaces):
    events = one(default, "Deployment", "events")
    assert events["spec"]["replicas"] == 2
    assert container(events)["image"] == "drift-events:0.1.0"
    env = env_of(events)
    assert set(env) == COMMON_ENV | {"DRIFT_EVENTS_PORT", "DRIFT_TRIGGER_RECORD_PER_SECOND"}  # no Kafka given
    assert env["DRIFT_EVENTS_PORT"]["value"] == "8080"
    assert {"name": "receiver", "containerPort": 8080, "protocol": "TCP"} in container(events)["ports"]
    receiver = next(s for s in find(default, "Service") if s["spec"]["ports"][0]["name"] == "http")
    assert receiver["spec"]["ports"][0] == {"name": "http", "port": 80, "targetPort": "receiver", "protocol": "TCP"}
    assert receiver["spec"]["selector"].items() <= events["spec"]["template"]["metadata"]["labels"].items()

    kafka = render(tools, namespaces["release"], "--set", "kafka.bootstrap=kafka:9092")
    assert env_of(one(kafka, "Deployment", "events"))["DRIFT_KAFKA_BOOTSTRAP"]["value"] == "kafka:9092"
    off = render(tools, namespaces["release"], "--set", "events.enabled=false")
    assert not [m for m in off if m["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "events"]
