"""deploy/ is what an operator applies (docs/CONTRACT.md "Install and entry point"); it validates offline.

Kubernetes: every document of deploy/kubernetes validates against the API schemas of the oldest and
the newest Kubernetes version we claim (kubernetes-validate, strict: a misspelt or unknown field
fails), then the contract's promises are checked one by one: two replicas rolled one at a time,
probes on /healthz and /readyz at the port the ConfigMap gives the bot, every secret a file read
through a NAME_FILE variable the contract lists, the image's non-root user on a read-only root
filesystem, a PodDisruptionBudget over the pods, `resetbot db upgrade` before the bot, the image of
this version. Each check also runs on a copy with one thing broken (MUTATIONS), so none passes
vacuously. Finally the environment the manifests give is resolved by the real Settings, and the
migration step runs with it.

systemd: deploy/systemd/resetbot.service passes `systemd-analyze verify` and `security --offline`,
keeps its hardening and credentials, and the bot runs under the seccomp filters systemd would build
from it (tests/systemd_sandbox.py).
"""

from __future__ import annotations

import copy
import ctypes.util
import errno
import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from cryptography.fernet import Fernet

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"resetbot:{VERSION}"  # as `./dev image` names it; a kustomization `images:` entry may retarget it
IMAGE_UID = 10001  # the image's user (docs/CONTRACT.md)
# The oldest Kubernetes the manifests claim to work on, and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", "1.37")
CHANGE_DEADLINE = 90  # seconds: a provider change's overall deadline (docs/guarantees.md)
MEASURED_PEAK_RSS = 120 * 1000**2  # the bot's highest peak RSS in docs/performance.md (PostgreSQL, HTTPS burst)


def contract_file_variables() -> set[str]:
    """The secrets docs/CONTRACT.md says may come from a file through NAME_FILE."""
    contract = (ROOT / "docs" / "CONTRACT.md").read_text()
    row = next(line for line in contract.splitlines() if line.startswith("| `NAME_FILE` for each secret:"))
    return set(re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])) - {"NAME_FILE"}


SECRET_VARIABLES = contract_file_variables()
SECRET_LOOKING = re.compile(r"xox[a-z]-|xapp-|://[^/\s:@]*:[^/\s@]+@|-----BEGIN", re.IGNORECASE)


# --- Kubernetes ---------------------------------------------------------------------------------------------

Files = dict[str, list[dict]]


def load_manifests() -> Files:
    paths = sorted([*K8S.glob("*.yaml"), *K8S.glob("*.yml")])
    return {path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None] for path in paths}


MANIFESTS = load_manifests()


def resources(files: Files) -> list[dict]:
    return [doc for name, docs in files.items() if name != "kustomization.yaml" for doc in docs]


def of_kind(files: Files, kind: str) -> list[dict]:
    return [doc for doc in resources(files) if doc.get("kind") == kind]


def one(files: Files, kind: str) -> dict:
    found = of_kind(files, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def deployment(files: Files) -> dict:
    return one(files, "Deployment")


def pod(files: Files) -> dict:
    return deployment(files)["spec"]["template"]["spec"]


def bot(files: Files) -> dict:
    containers = pod(files)["containers"]
    assert len(containers) == 1, "one container: the bot"
    return containers[0]


def init(files: Files) -> dict:
    return pod(files)["initContainers"][0]


def containers(files: Files) -> list[dict]:
    return pod(files).get("initContainers", []) + pod(files)["containers"]


def configmap(files: Files, name: str = "resetbot") -> dict[str, str]:
    found = [doc for doc in of_kind(files, "ConfigMap") if doc["metadata"]["name"] == name]
    assert found, f"no ConfigMap {name}"
    return found[0].get("data", {})


def pod_labels(files: Files) -> dict[str, str]:
    return deployment(files)["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict, labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels", {})
    return bool(match) and not selector.get("matchExpressions") and match.items() <= labels.items()


def argv(container: dict) -> list[str]:
    """What the container runs: the image's entrypoint `resetbot` unless `command` replaces it."""
    return container.get("command", ["resetbot"]) + container.get("args", [])


def secret_files(files: Files, container: dict) -> dict[str, str]:
    """Each file path a Secret volume puts in `container` → the Secret key it holds."""
    volumes = {volume["name"]: volume for volume in pod(files).get("volumes", [])}
    found = {}
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        assert mount.get("readOnly") is True, f"{mount['name']} must be mounted read-only"
        assert secret.get("items"), f"{mount['name']}: list the Secret's keys (items), so a missing one is named"
        for item in secret["items"]:
            found[f"{mount['mountPath'].rstrip('/')}/{item['path']}"] = item["key"]
    return found


def health_port(files: Files) -> int:
    return int(configmap(files)["RESETBOT_HEALTH_PORT"])


def container_port(container: dict, port: int | str) -> int | str:
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    return named.get(port, port) if isinstance(port, str) else port


def probe_target(container: dict, probe: str) -> tuple[str, int | str] | None:
    get = container.get(probe, {}).get("httpGet")
    return (get.get("path"), container_port(container, get.get("port"))) if get else None


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", str(quantity)).groups()
    return int(number) * units.get(unit, 1)


def check_two_replicas_rolled_one_at_a_time(files: Files) -> None:
    spec = deployment(files)["spec"]
    assert spec.get("replicas") == 2
    strategy = spec.get("strategy", {})
    assert strategy.get("type") == "RollingUpdate"
    assert strategy.get("rollingUpdate") == {"maxUnavailable": 0, "maxSurge": 1}


def check_probes_on_the_health_port(files: Files) -> None:
    container, port = bot(files), health_port(files)
    # The kubelet probes the pod's address: the health listener must not stay on loopback.
    assert configmap(files).get("RESETBOT_HEALTH_HOST", "0.0.0.0") == "0.0.0.0"
    assert probe_target(container, "livenessProbe") == ("/healthz", port)
    assert probe_target(container, "readinessProbe") == ("/readyz", port)
    if "startupProbe" in container:
        assert probe_target(container, "startupProbe") == ("/healthz", port)
    liveness = container["livenessProbe"]
    # Generous: a minute of failed probes before a restart, never one slow answer.
    assert liveness.get("failureThreshold", 3) * liveness.get("periodSeconds", 10) >= 60
    annotations = deployment(files)["spec"]["template"]["metadata"].get("annotations", {})
    if "prometheus.io/port" in annotations:
        assert annotations["prometheus.io/port"] == str(port)


def check_secrets_only_as_files(files: Files) -> None:
    assert not of_kind(files, "Secret"), "no Secret is committed: it is created from files (deploy/README.md)"
    for name, data in ((doc["metadata"]["name"], doc.get("data", {})) for doc in of_kind(files, "ConfigMap")):
        assert not set(data) & SECRET_VARIABLES, f"ConfigMap {name} holds a secret variable"
        assert not any(key.endswith("_FILE") for key in data), f"ConfigMap {name}: NAME_FILE paths go with the mounts"
        assert not any(SECRET_LOOKING.search(str(value)) for value in data.values()), f"ConfigMap {name}: a secret?"
    for volume in pod(files).get("volumes", []):
        if "secret" in volume:
            mode = volume["secret"].get("defaultMode", 0o644)
            assert mode & 0o007 == 0 and mode & 0o040, f"{volume['name']}: readable by the pod's group only"
    for container in containers(files):
        mounted = secret_files(files, container)
        assert not any("secretRef" in source for source in container.get("envFrom", []))
        read = set()
        for variable in container.get("env", []):
            name = variable["name"]
            assert name not in SECRET_VARIABLES, f"{name} in the environment: give it as a file ({name}_FILE)"
            assert "secretKeyRef" not in variable.get("valueFrom", {}), f"{name}: secrets come as files"
            if name.endswith("_FILE"):
                assert name.removesuffix("_FILE") in SECRET_VARIABLES, f"{name} is no NAME_FILE the contract lists"
                assert variable.get("value") in mounted, f"{name}: {variable.get('value')} is no mounted secret file"
                read.add(variable["value"])
        assert set(mounted) <= read, f"{container['name']}: secret files mounted but never read: {set(mounted) - read}"


def check_runs_as_the_image_user_read_only(files: Files) -> None:
    spec = pod(files)
    context = spec.get("securityContext", {})
    assert context.get("runAsNonRoot") is True
    assert context.get("runAsUser") == IMAGE_UID and context.get("runAsGroup") == IMAGE_UID
    assert context.get("fsGroup") == IMAGE_UID  # the secret files' group
    assert context.get("seccompProfile") == {"type": "RuntimeDefault"}
    assert spec.get("automountServiceAccountToken") is False
    assert one(files, "ServiceAccount").get("automountServiceAccountToken") is False
    assert spec.get("enableServiceLinks") is False  # no RESETBOT_* variables made up for the Service
    assert not any(spec.get(key) for key in ("hostNetwork", "hostPID", "hostIPC"))
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    for container in containers(files):
        own = container.get("securityContext", {})
        assert own.get("allowPrivilegeEscalation") is False, container["name"]
        assert own.get("readOnlyRootFilesystem") is True, container["name"]
        assert own.get("capabilities", {}).get("drop") == ["ALL"] and not own["capabilities"].get("add")
        assert own.get("privileged") in (None, False) and own.get("runAsUser", IMAGE_UID) == IMAGE_UID
        writable = {m["mountPath"]: volumes[m["name"]] for m in container.get("volumeMounts", []) if not m.get("readOnly")}
        assert all("emptyDir" in volume for volume in writable.values()), f"{container['name']}: writable, not scratch"
    assert {"/tmp", "/var/lib/resetbot"} <= {m["mountPath"] for m in bot(files).get("volumeMounts", [])}


def check_resources(files: Files) -> None:
    for container in containers(files):
        requests, limits = (container.get("resources", {}).get(kind, {}) for kind in ("requests", "limits"))
        assert {"cpu", "memory"} <= requests.keys() and {"cpu", "memory"} <= limits.keys(), container["name"]
        assert memory_bytes(requests["memory"]) >= MEASURED_PEAK_RSS
        assert memory_bytes(limits["memory"]) >= 2 * MEASURED_PEAK_RSS


def check_stops_gracefully(files: Files) -> None:
    # SIGTERM lets provider calls in flight finish; SIGKILL must not come before their deadline.
    assert pod(files).get("terminationGracePeriodSeconds", 30) >= CHANGE_DEADLINE + 20


def check_migration_runs_first(files: Files) -> None:
    assert argv(bot(files)) == ["resetbot", "run"]
    steps = pod(files).get("initContainers", []) + [
        c for job in of_kind(files, "Job") for c in job["spec"]["template"]["spec"]["containers"]]
    upgrades = [c for c in steps if argv(c) == ["resetbot", "db", "upgrade"]]
    assert upgrades, "`resetbot db upgrade` runs as an init container or a Job"
    assert all(c.get("image") == bot(files).get("image") for c in upgrades), "the migration of the same version"


def check_image(files: Files) -> None:
    for container in containers(files):
        assert container.get("image") == IMAGE, f"{container['name']}: {container.get('image')} is not {IMAGE}"


def check_disruption_budget(files: Files) -> None:
    budget = one(files, "PodDisruptionBudget")["spec"]
    assert selects(budget.get("selector", {}), pod_labels(files)), "the budget selects the bot's pods"
    assert budget.get("minAvailable") == 1, "one replica always stays; the other may be drained"


def check_replicas_spread_across_nodes(files: Files) -> None:
    spread = pod(files).get("topologySpreadConstraints", [])
    anti = pod(files).get("affinity", {}).get("podAntiAffinity", {})
    by_node = [c for c in spread if c.get("topologyKey") == "kubernetes.io/hostname"
               and selects(c.get("labelSelector", {}), pod_labels(files))]
    assert by_node or anti, "the replicas are spread across nodes"


def check_selectors_and_names(files: Files) -> None:
    labels = pod_labels(files)
    assert selects(deployment(files)["spec"]["selector"], labels)
    service = one(files, "Service")["spec"]
    assert service.get("selector") and service["selector"].items() <= labels.items()
    assert all(container_port(bot(files), p["targetPort"]) == health_port(files) for p in service["ports"])
    assert service.get("publishNotReadyAddresses") is True  # a replica that is not ready is still scraped
    accounts = {doc["metadata"]["name"] for doc in of_kind(files, "ServiceAccount")}
    assert pod(files).get("serviceAccountName") in accounts
    maps = {doc["metadata"]["name"]: doc.get("data", {}) for doc in of_kind(files, "ConfigMap")}
    for container in containers(files):
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] in maps
        for variable in container.get("env", []):
            if ref := variable.get("valueFrom", {}).get("configMapKeyRef"):
                assert ref["key"] in maps.get(ref["name"], {}), f"{variable['name']}: no {ref}"


def check_kustomization_lists_every_file(files: Files) -> None:
    kustomization = files["kustomization.yaml"][0]
    listed = kustomization.get("resources", [])
    assert len(listed) == len(set(listed)) and set(listed) == set(files) - {"kustomization.yaml"}
    namespace = one(files, "Namespace")["metadata"]["name"]
    assert kustomization.get("namespace") == namespace
    assert all(doc["metadata"].get("namespace") in (None, namespace) for doc in resources(files))


CHECKS = [check_two_replicas_rolled_one_at_a_time, check_probes_on_the_health_port, check_secrets_only_as_files,
          check_runs_as_the_image_user_read_only, check_resources, check_stops_gracefully,
          check_migration_runs_first, check_image, check_disruption_budget, check_replicas_spread_across_nodes,
          check_selectors_and_names, check_kustomization_lists_every_file]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_the_manifests_keep_the_contract(check):
    check(copy.deepcopy(MANIFESTS))


def _set(get: Callable[[Files], dict], **values) -> Callable[[Files], None]:
    return lambda files: get(files).update(values)


def _drop(get: Callable[[Files], dict], key: str) -> Callable[[Files], None]:
    return lambda files: get(files).pop(key)


def _add_env(get: Callable[[Files], dict], variable: dict) -> Callable[[Files], None]:
    return lambda files: get(files).setdefault("env", []).append(variable)


def _file_path(files: Files, name: str) -> dict:
    return next(v for v in bot(files)["env"] if v["name"] == name)


def _secret_volume(files: Files) -> dict:
    return next(v for v in pod(files)["volumes"] if v["name"] == "secrets")["secret"]


# (what is broken, the check that must notice, how to break it)
MUTATIONS = [
    ("one replica", check_two_replicas_rolled_one_at_a_time, _set(lambda f: deployment(f)["spec"], replicas=1)),
    ("both replicas down in a rollout", check_two_replicas_rolled_one_at_a_time,
     _set(lambda f: deployment(f)["spec"]["strategy"]["rollingUpdate"], maxUnavailable=1)),
    ("no readiness probe", check_probes_on_the_health_port, _drop(bot, "readinessProbe")),
    ("no liveness probe", check_probes_on_the_health_port, _drop(bot, "livenessProbe")),
    ("readiness probes liveness", check_probes_on_the_health_port,
     _set(lambda f: bot(f)["readinessProbe"]["httpGet"], path="/healthz")),
    ("the bot listens elsewhere", check_probes_on_the_health_port,
     _set(configmap, RESETBOT_HEALTH_PORT="9102")),
    ("the health listener on loopback", check_probes_on_the_health_port,
     _set(configmap, RESETBOT_HEALTH_HOST="127.0.0.1")),
    ("a liveness probe that kills at once", check_probes_on_the_health_port,
     _set(lambda f: bot(f)["livenessProbe"], failureThreshold=1)),
    ("a token in the environment", check_secrets_only_as_files,
     _add_env(bot, {"name": "SLACK_BOT_TOKEN", "value": "xoxb-1-2-3"})),
    ("a secretKeyRef", check_secrets_only_as_files,
     _add_env(bot, {"name": "EXTRA", "valueFrom": {"secretKeyRef": {"name": "resetbot", "key": "seal-key"}}})),
    ("a token in the ConfigMap", check_secrets_only_as_files, _set(configmap, SLACK_APP_TOKEN="xapp-1-2")),
    ("a database password in the ConfigMap", check_secrets_only_as_files,
     _set(configmap, DB_HINT="postgresql+psycopg://bot:hunter2@db/resetbot")),
    ("a NAME_FILE the contract does not list", check_secrets_only_as_files,
     _add_env(bot, {"name": "SLACK_TOKEN_FILE", "value": "/run/secrets/resetbot/slack-bot-token"})),
    ("a NAME_FILE pointing at no mounted file", check_secrets_only_as_files,
     lambda f: _file_path(f, "DATABASE_URL_FILE").update(value="/run/secrets/database-url")),
    ("a secret file nobody reads", check_secrets_only_as_files,
     lambda f: bot(f)["env"].remove(_file_path(f, "SLACK_APP_TOKEN_FILE"))),
    ("secret files readable by anyone", check_secrets_only_as_files,
     lambda f: _secret_volume(f).update(defaultMode=0o444)),
    ("a Secret committed", check_secrets_only_as_files,
     lambda f: f.setdefault("secret.yaml", []).append({"kind": "Secret", "metadata": {"name": "resetbot"}})),
    ("root", check_runs_as_the_image_user_read_only, _set(lambda f: pod(f)["securityContext"], runAsUser=0)),
    ("runAsNonRoot off", check_runs_as_the_image_user_read_only,
     _drop(lambda f: pod(f)["securityContext"], "runAsNonRoot")),
    ("a writable root filesystem", check_runs_as_the_image_user_read_only,
     _set(lambda f: bot(f)["securityContext"], readOnlyRootFilesystem=False)),
    ("privilege escalation in the migration", check_runs_as_the_image_user_read_only,
     _set(lambda f: init(f)["securityContext"], allowPrivilegeEscalation=True)),
    ("capabilities kept", check_runs_as_the_image_user_read_only,
     _set(lambda f: bot(f)["securityContext"]["capabilities"], drop=["NET_RAW"])),
    ("service links", check_runs_as_the_image_user_read_only, _set(pod, enableServiceLinks=True)),
    ("a service account token", check_runs_as_the_image_user_read_only,
     _set(lambda f: one(f, "ServiceAccount"), automountServiceAccountToken=True)),
    ("no /tmp", check_runs_as_the_image_user_read_only,
     lambda f: bot(f)["volumeMounts"].remove(next(m for m in bot(f)["volumeMounts"] if m["mountPath"] == "/tmp"))),
    ("no memory limit", check_resources, _drop(lambda f: bot(f)["resources"]["limits"], "memory")),
    ("less memory than measured", check_resources,
     _set(lambda f: init(f)["resources"]["requests"], memory="64Mi")),
    ("SIGKILL after 30 s", check_stops_gracefully, _set(pod, terminationGracePeriodSeconds=30)),
    ("no migration step", check_migration_runs_first, _set(pod, initContainers=[])),
    ("the migration of another version", check_migration_runs_first, _set(init, image="resetbot:0.0.1")),
    ("the bot in HTTP mode", check_migration_runs_first, _set(bot, args=["run", "--http"])),
    ("another image", check_image, _set(bot, image="resetbot:latest")),
    ("a budget over other pods", check_disruption_budget,
     lambda f: one(f, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "x"})),
    ("a budget that blocks every drain", check_disruption_budget,
     _set(lambda f: one(f, "PodDisruptionBudget")["spec"], minAvailable=2)),
    ("replicas on one node", check_replicas_spread_across_nodes, _drop(pod, "topologySpreadConstraints")),
    ("a Service that selects nothing", check_selectors_and_names,
     lambda f: one(f, "Service")["spec"]["selector"].update({"app.kubernetes.io/component": "web"})),
    ("a ConfigMap that does not exist", check_selectors_and_names,
     lambda f: bot(f)["envFrom"][0]["configMapRef"].update(name="resetbot-config")),
    ("a file the kustomization forgets", check_kustomization_lists_every_file,
     lambda f: f["kustomization.yaml"][0]["resources"].remove("poddisruptionbudget.yaml")),
]


@pytest.mark.parametrize(("check", "mutate"), [pytest.param(c, m, id=what.replace(" ", "-")) for what, c, m in MUTATIONS])
def test_each_check_notices_what_it_guards(check, mutate):
    files = copy.deepcopy(MANIFESTS)
    check(files)
    mutate(files)
    with pytest.raises(AssertionError):
        check(files)


def test_every_check_has_a_mutation():
    assert {check for _, check, _ in MUTATIONS} == set(CHECKS)


SCHEMA_CASES = [pytest.param(doc, version, id=f"{name}:{doc['kind']}:{version}")
                for name, docs in MANIFESTS.items() if name != "kustomization.yaml"
                for doc in docs for version in KUBERNETES_VERSIONS]


@pytest.mark.parametrize(("doc", "version"), SCHEMA_CASES)
def test_each_document_validates_against_the_kubernetes_schema(doc, version):
    assert kubernetes_validate.validate(doc, version, strict=True) == version


def test_the_schema_check_catches_a_misspelt_field_and_a_wrong_type():
    broken = copy.deepcopy(deployment(MANIFESTS))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)
    doc = copy.deepcopy(one(MANIFESTS, "ConfigMap"))
    doc["data"]["RESETBOT_HEALTH_PORT"] = 8080  # a number where Kubernetes wants a string
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[0], strict=True)


def test_the_kubernetes_versions_are_shipped():
    shipped = kubernetes_validate.utils.all_versions()
    assert all(any(v.startswith(version + ".") for v in shipped) for version in KUBERNETES_VERSIONS)


# --- the environment the manifests give, resolved by the bot ---------------------------------------------

SECRET_SAMPLES = {
    "slack-bot-token": "xoxb-1-deploy-test",
    "slack-app-token": "xapp-1-deploy-test",
    "mofh-api-password": "mofh-password-for-tests",
    "namecheap-api-key": "namecheap-key-for-tests",
}


def container_env(files: Files, container: dict, secrets_dir: Path, secrets: dict[str, str]) -> dict[str, str]:
    """The variables `container` starts with, its secret files written into `secrets_dir`."""
    maps = {doc["metadata"]["name"]: doc.get("data", {}) for doc in of_kind(files, "ConfigMap")}
    mounted = secret_files(files, container)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for variable in container.get("env", []):
        if "value" in variable:
            value = variable["value"]
        else:
            ref = variable["valueFrom"]["configMapKeyRef"]
            value = maps[ref["name"]][ref["key"]]
        if value in mounted:
            key = mounted[value]
            (secrets_dir / key).write_text(secrets[key] + "\n")
            value = str(secrets_dir / key)
        env[variable["name"]] = value
    return env


def _secrets(database_url: str) -> dict[str, str]:
    return {**SECRET_SAMPLES, "database-url": database_url, "seal-key": Fernet.generate_key().decode()}


def test_the_bot_container_starts_with_a_complete_configuration(tmp_path):
    url = "postgresql+psycopg://resetbot:pw@db.example.internal:5432/resetbot"
    env = container_env(MANIFESTS, bot(MANIFESTS), tmp_path, _secrets(url))
    settings = Settings.from_env(env)
    assert settings.problems == () and settings.problems_for_run(http=False) == []
    assert settings.database_url.startswith("postgresql") and settings.database_url == url
    assert settings.slack_bot_token.reveal() == SECRET_SAMPLES["slack-bot-token"]
    assert settings.enabled_providers == ["mofh", "namecheap"]
    assert settings.health_port == health_port(MANIFESTS) and settings.log_format == "json"


def _cli(args: list[str], env: dict[str, str], home: Path, *, wrap: Sequence[str] = ()) -> subprocess.CompletedProcess:
    # A clean environment; RESETBOT_HOME (the image's and the unit's /var/lib/resetbot) under `home`.
    clean = {"PATH": os.environ["PATH"], "HOME": str(home), **env, "RESETBOT_HOME": str(home / "state")}
    return subprocess.run([*wrap, sys.executable, "-m", "bot.cli", *args], env=clean, cwd=home,
                          capture_output=True, text=True, timeout=120)


def test_the_migration_step_runs_with_what_its_container_is_given(database_url, tmp_path):
    step = init(MANIFESTS)
    env = container_env(MANIFESTS, step, tmp_path, _secrets(database_url))
    assert not {"SLACK_BOT_TOKEN_FILE", "MOFH_API_PASSWORD_FILE"} & env.keys()  # only what a migration needs
    for _ in range(2):  # every pod start runs it: the second changes nothing
        done = _cli(argv(step)[1:], env, tmp_path)
        assert done.returncode == 0, done.stderr


# --- systemd ----------------------------------------------------------------------------------------------

UNIT_PATH = ROOT / "deploy" / "systemd" / "resetbot.service"
ENV_EXAMPLE = ROOT / "deploy" / "systemd" / "resetbot.env.example"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(SYSTEMD_ANALYZE is None,
                                   reason="systemd-analyze is missing (Debian package systemd; .ci/run installs it)")

Unit = dict[str, list[tuple[str, str]]]


def parse_unit(text: str) -> Unit:
    """Sections → (key, value) in order; comments dropped, backslash continuations joined."""
    unit: Unit = {}
    section = None
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = unit.setdefault(line.strip("[]"), [])
        else:
            key, _, value = line.partition("=")
            section.append((key.strip(), value.strip()))
    return unit


def values(unit: Unit, key: str, section: str = "Service") -> list[str]:
    return [value for k, value in unit.get(section, []) if k == key]


def last(unit: Unit, key: str, section: str = "Service") -> str | None:
    found = values(unit, key, section)
    return found[-1] if found else None


def unit_environment(unit: Unit) -> dict[str, str]:
    return dict(item.split("=", 1) for line in values(unit, "Environment") for item in line.split())


def env_file(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


HARDENING = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
    "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes", "ProtectClock": "yes", "ProtectHostname": "yes",
    "RestrictNamespaces": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native", "CapabilityBoundingSet": "",
    "UMask": "0077",
}


def check_unit_hardening(unit: Unit, example: dict[str, str]) -> None:
    for key, wanted in HARDENING.items():
        assert last(unit, key) == wanted, f"{key}={wanted}"
    assert set((last(unit, "RestrictAddressFamilies") or "").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    filters = values(unit, "SystemCallFilter")
    assert filters and filters[0] == "@system-service"
    assert last(unit, "User") not in (None, "root", "0")


def check_unit_runs_the_bot(unit: Unit, example: dict[str, str]) -> None:
    pre, start = values(unit, "ExecStartPre"), values(unit, "ExecStart")
    assert len(start) == 1 and start[0].endswith("/bin/resetbot run") and start[0].startswith("/")
    binary = start[0].removesuffix(" run")
    assert f"{binary} db upgrade" in pre, "the migration runs before the bot"
    assert last(unit, "Restart") == "on-failure"
    assert last(unit, "KillSignal") in (None, "SIGTERM")
    assert int(last(unit, "TimeoutStopSec") or 90) >= CHANGE_DEADLINE + 20
    assert last(unit, "StateDirectory") == "resetbot"
    assert unit_environment(unit).get("RESETBOT_HOME") == "/var/lib/resetbot"  # StateDirectory's path
    assert last(unit, "EnvironmentFile") == "-/etc/resetbot/resetbot.env"


def check_unit_credentials(unit: Unit, example: dict[str, str]) -> None:
    loaded = dict(value.split(":", 1) for value in values(unit, "LoadCredential"))
    assert all(path == f"/etc/resetbot/credentials/{name}" for name, path in loaded.items())
    environment = unit_environment(unit)
    file_variables = {name: value for name, value in environment.items() if name.endswith("_FILE")}
    for name, value in file_variables.items():
        assert name.removesuffix("_FILE") in SECRET_VARIABLES, f"{name} is no NAME_FILE the contract lists"
        assert value.startswith("%d/") and value.removeprefix("%d/") in loaded, f"{name}={value}: no credential"
    assert {v.removeprefix("%d/") for v in file_variables.values()} == set(loaded), "a credential nobody reads"
    for source in (environment, example):
        assert not set(source) & SECRET_VARIABLES, "secrets are credentials, never in the environment"
        assert not any(SECRET_LOOKING.search(value) for value in source.values())
    assert not any(name.endswith("_FILE") for name in example)


UNIT_CHECKS = [check_unit_hardening, check_unit_runs_the_bot, check_unit_credentials]
UNIT_TEXT = UNIT_PATH.read_text()
EXAMPLE_TEXT = ENV_EXAMPLE.read_text()


@pytest.mark.parametrize("check", UNIT_CHECKS, ids=lambda check: check.__name__.removeprefix("check_unit_"))
def test_the_unit_keeps_the_contract(check):
    check(parse_unit(UNIT_TEXT), env_file(EXAMPLE_TEXT))


UNIT_MUTATIONS = [
    ("writable executable memory", check_unit_hardening, "MemoryDenyWriteExecute=yes\n", ""),
    ("a writable /usr", check_unit_hardening, "ProtectSystem=strict", "ProtectSystem=full"),
    ("raw sockets", check_unit_hardening, "AF_INET AF_INET6 AF_UNIX", "AF_INET AF_INET6 AF_UNIX AF_PACKET"),
    ("root", check_unit_hardening, "User=resetbot", "User=root"),
    ("no migration", check_unit_runs_the_bot, "ExecStartPre=/opt/resetbot/bin/resetbot db upgrade\n", ""),
    ("SIGKILL after 30 s", check_unit_runs_the_bot, "TimeoutStopSec=120", "TimeoutStopSec=30"),
    ("a credential under another name", check_unit_credentials, "%d/seal-key", "%d/sealkey"),
    ("a secret in the environment", check_unit_credentials,
     "Environment=NAMECHEAP_API_KEY_FILE=%d/namecheap-api-key", "Environment=NAMECHEAP_API_KEY=hunter2"),
    ("a secret in the env file", check_unit_credentials, None, "SLACK_BOT_TOKEN=xoxb-1-2-3\n"),
]


@pytest.mark.parametrize(("check", "old", "new"), [pytest.param(c, o, n, id=what.replace(" ", "-"))
                                                 for what, c, o, n in UNIT_MUTATIONS])
def test_each_unit_check_notices_what_it_guards(check, old, new):
    if old is None:  # appended to the env file
        unit, example = UNIT_TEXT, EXAMPLE_TEXT + new
    else:
        assert old in UNIT_TEXT
        unit, example = UNIT_TEXT.replace(old, new), EXAMPLE_TEXT
    with pytest.raises(AssertionError):
        check(parse_unit(unit), env_file(example))


def test_every_unit_check_has_a_mutation():
    assert {check for _, check, _, _ in UNIT_MUTATIONS} == set(UNIT_CHECKS)


def _verify(unit_text: str, root: Path) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` in a root of its own, where the unit's programs exist (as an install makes them)."""
    system = root / "etc" / "systemd" / "system"
    system.mkdir(parents=True, exist_ok=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr" / "lib" / "systemd" / "system", symlinks=True,
                    dirs_exist_ok=True)
    for line in values(parse_unit(unit_text), "ExecStart") + values(parse_unit(unit_text), "ExecStartPre"):
        program = root / line.split()[0].lstrip("-@:+!").lstrip("/")
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    (system / "resetbot.service").write_text(unit_text)
    return subprocess.run([SYSTEMD_ANALYZE, "verify", f"--root={root}", str(system / "resetbot.service")],
                          capture_output=True, text=True, timeout=60)


@needs_systemd
def test_systemd_analyze_verifies_the_unit_without_a_word(tmp_path):
    done = _verify(UNIT_TEXT, tmp_path)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@needs_systemd
def test_systemd_analyze_verify_speaks_up_for_a_misspelt_key(tmp_path):
    done = _verify(UNIT_TEXT.replace("RestrictNamespaces=", "RestrictNamespace="), tmp_path)
    assert "Unknown key" in done.stdout + done.stderr


def _exposure(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "resetbot.service"
    path.write_text(unit_text)
    return subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", "--threshold=20", "--no-pager", str(path)],
                          capture_output=True, text=True, timeout=60)


@needs_systemd
def test_systemd_rates_the_units_exposure_low(tmp_path):
    done = _exposure(UNIT_TEXT, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    without = UNIT_TEXT.split("# Hardening.")[0]
    assert _exposure(without, tmp_path).returncode != 0  # the threshold does bite


# --- the bot under the unit's system-call rules ---------------------------------------------------------


@functools.cache
def syscall_group(name: str) -> frozenset[str]:
    """A `SystemCallFilter=` group expanded to system calls, as systemd lists it."""
    listing = subprocess.run([SYSTEMD_ANALYZE, "syscall-filter", name], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1:]
    found: set[str] = set()
    for entry in (line.strip() for line in listing):
        if entry and not entry.startswith("#"):
            found |= syscall_group(entry) if entry.startswith("@") else {entry}
    return frozenset(found)


def sandbox_rules(unit: Unit) -> dict:
    """What the unit's SystemCallFilter=, SystemCallErrorNumber=, RestrictAddressFamilies= and
    MemoryDenyWriteExecute= come to (systemd.exec(5)): the first filter allows, each `~` one removes."""
    allowed: set[str] = set()
    for index, line in enumerate(values(unit, "SystemCallFilter")):
        deny = line.startswith("~")
        names = set().union(*(syscall_group(n) if n.startswith("@") else {n} for n in line.lstrip("~").split()))
        assert index or not deny, "the first SystemCallFilter= is an allow list"
        allowed = allowed - names if deny else allowed | names
    families = [getattr(socket, name) for name in (last(unit, "RestrictAddressFamilies") or "").split()]
    return {"allow": sorted(allowed), "errno": getattr(errno, last(unit, "SystemCallErrorNumber") or "EPERM"),
            "families": families or None, "deny_write_execute": last(unit, "MemoryDenyWriteExecute") == "yes"}


def _libseccomp() -> bool:
    return sys.platform == "linux" and ctypes.util.find_library("seccomp") is not None


needs_sandbox = pytest.mark.skipif(SYSTEMD_ANALYZE is None or not _libseccomp(),
                                   reason="needs systemd-analyze and libseccomp (Debian package systemd)")


@pytest.fixture
def sandbox(tmp_path) -> list[str]:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(sandbox_rules(parse_unit(UNIT_TEXT))))
    return [sys.executable, str(ROOT / "tests" / "systemd_sandbox.py"), str(rules)]


def unit_env(unit: Unit, example: dict[str, str], credentials: Path, secrets: dict[str, str]) -> dict[str, str]:
    """The variables the unit's processes start with, its credentials written into `credentials` (%d)."""
    loaded = dict(value.split(":", 1) for value in values(unit, "LoadCredential"))
    credentials.mkdir()
    for name in loaded:
        (credentials / name).write_text(secrets[name] + "\n")
    return {**example, **{k: v.replace("%d", str(credentials)) for k, v in unit_environment(unit).items()}}


@needs_sandbox
def test_the_sandbox_refuses_what_the_unit_forbids(sandbox, tmp_path):
    probe = ("import mmap, socket\n"
             "try: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
             "except OSError as e: print('wx', e.errno)\n"
             "try: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\n"
             "except OSError as e: print('netlink', e.errno)\n"
             "import os\n"
             "try: os.setpriority(os.PRIO_PROCESS, 0, 5)\n"
             "except OSError as e: print('setpriority', e.errno)\n"
             "socket.socket().bind(('127.0.0.1', 0)); print('inet ok')\n")
    done = subprocess.run([*sandbox, sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split("\n") == [f"wx {errno.EPERM}", f"netlink {errno.EAFNOSUPPORT}",
                                       f"setpriority {errno.EPERM}", "inet ok", ""], done.stderr


@needs_sandbox
def test_the_units_migration_step_runs_in_its_sandbox(sandbox, database_url, tmp_path):
    unit = parse_unit(UNIT_TEXT)
    env = unit_env(unit, env_file(EXAMPLE_TEXT), tmp_path / "credentials", _secrets(database_url))
    step = next(v for v in values(unit, "ExecStartPre") if v.endswith(" db upgrade")).split()[1:]
    done = _cli(step, env, tmp_path, wrap=sandbox)
    assert done.returncode == 0, done.stderr
    settings = Settings.from_env(env)
    assert settings.problems == () and settings.problems_for_run(http=False) == []
    assert settings.enabled_providers == ["mofh", "namecheap"]


@needs_sandbox
def test_the_bot_runs_in_the_units_sandbox(sandbox, tmp_path):
    """The whole flow (Bolt over Socket Mode, sealing, the database, HTTP to the providers) under the unit's
    memory and system-call rules: MemoryDenyWriteExecute= and the filters hold for everything the bot loads."""
    done = _cli(["demo"], {}, tmp_path, wrap=sandbox)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


# --- deploy/README.md ----------------------------------------------------------------------------------


def test_the_readme_names_the_secrets_both_deployments_read():
    text = (ROOT / "deploy" / "README.md").read_text()
    table = dict(re.findall(r"^\| `([a-z0-9-]+)` \| `([A-Z0-9_]+_FILE)` \|", text, re.MULTILINE))
    mounted = secret_files(MANIFESTS, bot(MANIFESTS))
    read = {mounted[v["value"]]: v["name"] for v in bot(MANIFESTS)["env"] if v["name"].endswith("_FILE")}
    assert table == read, "the README's table of secrets is the bot container's"
    assert set(re.findall(r"--from-file=([a-z0-9-]+)=", text)) == set(read), "`create secret` makes every key"
    credentials = {value.removeprefix("%d/"): name for name, value in unit_environment(parse_unit(UNIT_TEXT)).items()
                   if name.endswith("_FILE")}
    assert credentials == table, "the unit reads the same files under the same names"
