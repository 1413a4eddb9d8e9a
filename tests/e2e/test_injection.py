"""End to end: pods created through a real kube-apiserver come out injected, exactly as a cluster does it.

The webhook is a real `downward-webhook serve` process, registered through the MutatingWebhookConfiguration
the Helm chart renders (rewritten to a URL on 127.0.0.1, as envtest does). Everything is read back from the
apiserver; the webhook's answers are never inspected directly.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.kube import Kube, eventually
from tests.e2e.registration import RunningWebhook
from tests.kube_rules import pod_create
from webhook.core.catalog import ENV_BY_NAME, FILE_CATALOG, PROXY_ENV_NAME, SEED_ENV
from webhook.core.config import Config
from webhook.core.review import review

P = "downward.dev/"
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
RESTRICTED_CONTAINER = {
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
}


def seed_pod(name: str, annotations: dict[str, str] | None = None, **container: Any) -> dict[str, Any]:
    """The seed's pod (Kubernetes in Action, 8.1): busybox `main` with requests and limits."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"foo": "bar"}, "annotations": dict(annotations or {})},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "command": ["sleep", "9999999"],
                    "resources": {
                        "requests": {"cpu": "15m", "memory": "100Ki"},
                        "limits": {"cpu": "100m", "memory": "4Mi"},
                    },
                    **container,
                }
            ]
        },
    }


def pods(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def expected_env(container: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": name, "valueFrom": ENV_BY_NAME[name].value_from(container)} for name in names]


def assert_injected(pod: dict[str, Any], container: str = "main", env: tuple[str, ...] = SEED_ENV) -> None:
    spec = pod["spec"]
    main = next(c for c in spec["containers"] if c["name"] == container)
    assert main["env"][: len(env)] == expected_env(container, env)
    volume = next(v for v in spec["volumes"] if v["name"] == f"downward-{container}")
    assert volume["downwardAPI"] == {"defaultMode": 420, "items": [f.item(container) for f in FILE_CATALOG]}
    assert {"name": f"downward-{container}", "mountPath": "/etc/downward", "readOnly": True} in main["volumeMounts"]
    status = json.loads(pod["metadata"]["annotations"][P + "status"])
    assert container in status["containers"]


def core_verdict(pod: dict[str, Any], namespace: str) -> Any:
    """The pure core's answer for `pod` as the apiserver hands it over (after ServiceAccount admission)."""
    admitted = copy.deepcopy(pod)
    admitted["spec"]["volumes"] = [{"name": "kube-api-access-abcde", "projected": {"sources": []}}]
    for container in admitted["spec"]["containers"]:
        container["volumeMounts"] = [{"name": "kube-api-access-abcde", "mountPath": TOKEN_PATH, "readOnly": True}]
    return review(pod_create(admitted, namespace), Config(), inject_by_default=False)


def test_opted_in_pod_is_stored_injected(kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    created = kube.must(
        kube.create(pods(namespace), seed_pod("downward", {P + "inject": "true", P + "ambassador": "true"}))
    )
    stored = kube.get(f"{pods(namespace)}/downward")
    assert stored["metadata"]["uid"] == created["metadata"]["uid"]
    spec = stored["spec"]
    main = spec["containers"][0]
    # Env: the seven seed variables first (so the user's own entries may refer to them), then the proxy URL.
    assert main["env"] == [*expected_env("main", SEED_ENV), {"name": PROXY_ENV_NAME, "value": "http://127.0.0.1:8001"}]
    token = next(v["name"] for v in spec["volumes"] if v["name"].startswith("kube-api-access-"))
    assert main["volumeMounts"] == [
        {"name": token, "readOnly": True, "mountPath": TOKEN_PATH},  # ServiceAccount admission's, untouched
        {"name": "downward-main", "readOnly": True, "mountPath": "/etc/downward"},
    ]
    assert [v["name"] for v in spec["volumes"]] == [token, "downward-main"]
    assert spec["volumes"][1]["downwardAPI"] == {"defaultMode": 420, "items": [f.item("main") for f in FILE_CATALOG]}
    # The ambassador: a native sidecar, first, with the pod's token and the restricted security context.
    (ambassador,) = spec["initContainers"]
    assert ambassador["name"] == "downward-ambassador"
    assert ambassador["restartPolicy"] == "Always"
    assert ambassador["image"] == Config().ambassador.image
    assert ambassador["command"][:4] == ["/bin/kubectl", "proxy", "--address=127.0.0.1", "--port=8001"]
    assert ambassador["startupProbe"]["exec"]["command"][0] == "/bin/kubectl"
    assert ambassador["volumeMounts"] == [{"name": token, "readOnly": True, "mountPath": TOKEN_PATH}]
    assert ambassador["securityContext"]["runAsNonRoot"] is True
    assert ambassador["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert ambassador["resources"] == {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"cpu": "200m", "memory": "64Mi"},
    }
    assert json.loads(stored["metadata"]["annotations"][P + "status"]) == {
        "containers": ["main"],
        "env": list(SEED_ENV),
        "mountPath": "/etc/downward",
        "ambassador": "native",
    }


def test_pod_without_annotation_is_stored_untouched(kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    sent = seed_pod("plain")
    stored = kube.must(kube.create(pods(namespace), sent))
    main = stored["spec"]["containers"][0]
    assert "env" not in main
    assert [m["mountPath"] for m in main["volumeMounts"]] == [TOKEN_PATH]
    assert [v["name"][:16] for v in stored["spec"]["volumes"]] == ["kube-api-access-"]
    assert "initContainers" not in stored["spec"]
    assert stored["metadata"]["annotations"] == {} if "annotations" in stored["metadata"] else True


def test_generate_name_pod(kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    pod = seed_pod("unused", {P + "inject": "true", P + "env": "all"})
    del pod["metadata"]["name"]
    pod["metadata"]["generateName"] = "web-"
    stored = kube.must(kube.create(pods(namespace), pod))
    assert stored["metadata"]["name"].startswith("web-")
    assert_injected(stored, env=tuple(ENV_BY_NAME))


def test_deployment_pods_are_injected(kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {P + "inject": "true"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }
    answer = kube.create(f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment)
    kube.must(answer)
    assert answer.warnings == ()  # the annotation is where it belongs

    def two_pods() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = kube.get(f"{pods(namespace)}?labelSelector=app%3Dweb")["items"]
        return items if len(items) == 2 else None

    listed = eventually(two_pods, what="the controller-manager to create the Deployment's two pods")
    for pod in listed:
        assert pod["metadata"]["generateName"].startswith("web-")
        assert_injected(pod, container="app")


def test_annotation_on_the_deployment_itself_is_a_warning(kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "misplaced", "annotations": {P + "inject": "true"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "misplaced"}},
            "template": {
                "metadata": {"labels": {"app": "misplaced"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }
    answer = kube.create(f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment)
    kube.must(answer)
    assert answer.warnings == (
        "downward.dev/inject on the Deployment is ignored: move it to spec.template.metadata.annotations",
    )
    # ...and its pods are indeed not injected.
    (pod,) = eventually(lambda: kube.get(f"{pods(namespace)}?labelSelector=app%3Dmisplaced")["items"], what="its pod")
    assert P + "status" not in pod["metadata"].get("annotations", {})


def test_restricted_namespace_admits_an_injected_pod_with_ambassador(
    kube: Kube, webhook: RunningWebhook, make_namespace: Callable[..., str]
) -> None:
    namespace = make_namespace(**{"pod-security.kubernetes.io/enforce": "restricted"})
    pod = seed_pod("strict", {P + "inject": "true", P + "ambassador": "true", P + "env": "all"}, **RESTRICTED_CONTAINER)
    answer = kube.create(pods(namespace), pod)
    stored = kube.must(answer)
    assert answer.warnings == ()
    assert stored["spec"]["initContainers"][0]["name"] == "downward-ambassador"
    assert_injected(stored, env=tuple(ENV_BY_NAME))
    # The same pod without our hardening of the ambassador would be refused: prove the namespace enforces.
    loose = seed_pod("loose")
    refused = kube.create(pods(namespace), loose)
    assert refused.status == 403
    assert "violates PodSecurity" in refused.message


def test_namespace_wide_injection_and_opt_out(
    kube: Kube, webhook: RunningWebhook, make_namespace: Callable[..., str]
) -> None:
    namespace = make_namespace(**{P + "inject": "enabled"})
    injected = kube.must(kube.create(pods(namespace), seed_pod("no-annotation")))
    assert_injected(injected)
    opted_out = kube.must(kube.create(pods(namespace), seed_pod("opted-out", {P + "inject": "false"})))
    assert P + "status" not in opted_out["metadata"]["annotations"]
    assert "env" not in opted_out["spec"]["containers"][0]


DENIALS = {
    "inject maybe": {P + "inject": "maybe"},
    "unknown env": {P + "inject": "true", P + "env": "POD_NAME,POD_NAM"},
    "unknown container": {P + "inject": "true", P + "containers": "sidecar"},
    "relative mount path": {P + "inject": "true", P + "mount-path": "etc/downward"},
    "unknown key": {P + "inject": "true", P + "mountpath": "/x"},
    "ambassador port taken": {P + "inject": "true", P + "ambassador": "true"},
    "mount path taken": {P + "inject": "true", P + "mount-path": TOKEN_PATH},
}


@pytest.mark.parametrize("case", list(DENIALS))
def test_denials_reach_the_client_with_our_message(
    kube: Kube, webhook: RunningWebhook, namespace: str, case: str
) -> None:
    extra = {"ports": [{"containerPort": 8001}]} if case == "ambassador port taken" else {}
    pod = seed_pod("denied", DENIALS[case], **extra)
    expected = core_verdict(pod, namespace)
    assert not expected.allowed
    answer = kube.create(pods(namespace), pod)
    assert answer.status == 400
    assert answer.message == f'admission webhook "pods.downward.dev" denied the request: {expected.message}'
    assert kube.call("GET", f"{pods(namespace)}/denied").status == 404


def test_warnings_arrive_as_http_warning_headers(kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    pod = seed_pod(
        "kept",
        {P + "inject": "true"},
        env=[{"name": "POD_NAME", "value": "mine"}],
        envFrom=[{"configMapRef": {"name": "cm"}}],
    )
    answer = kube.create(pods(namespace), pod)
    stored = kube.must(answer)
    assert answer.warnings == (
        "main: kept your POD_NAME; metadata.name not injected",
        "main: injected env vars override same-named envFrom keys",
    )
    names = [e["name"] for e in stored["spec"]["containers"][0]["env"]]
    assert names.count("POD_NAME") == 1
    assert stored["spec"]["containers"][0]["env"][-1] == {"name": "POD_NAME", "value": "mine"}


def test_server_side_dry_run_shows_the_injection_and_persists_nothing(
    kube: Kube, webhook: RunningWebhook, namespace: str
) -> None:
    answer = kube.create(pods(namespace), seed_pod("dry", {P + "inject": "true"}), dry_run=True)
    assert_injected(kube.must(answer))
    assert kube.call("GET", f"{pods(namespace)}/dry").status == 404


def test_reapplied_dump_of_a_live_pod_is_accepted_unchanged(
    kube: Kube, webhook: RunningWebhook, namespace: str
) -> None:
    original = kube.must(
        kube.create(pods(namespace), seed_pod("live", {P + "inject": "true", P + "ambassador": "true"}))
    )
    dump = copy.deepcopy(original)
    dump["metadata"] = {
        "name": "live-again",
        "labels": original["metadata"]["labels"],
        "annotations": original["metadata"]["annotations"],
    }
    dump.pop("status", None)
    answer = kube.create(pods(namespace), dump)
    again = kube.must(answer)
    assert answer.warnings == ()
    assert again["spec"]["containers"] == original["spec"]["containers"]
    assert again["spec"]["initContainers"] == original["spec"]["initContainers"]
    assert again["spec"]["volumes"] == original["spec"]["volumes"]
    assert again["metadata"]["annotations"] == original["metadata"]["annotations"]


def test_token_less_pod_gives_the_ambassador_alone_a_token_in_a_restricted_namespace(
    kube: Kube, webhook: RunningWebhook, make_namespace: Callable[..., str]
) -> None:
    namespace = make_namespace(**{"pod-security.kubernetes.io/enforce": "restricted"})
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "no-token"},
        "automountServiceAccountToken": False,
    }
    kube.must(kube.create(f"/api/v1/namespaces/{namespace}/serviceaccounts", account))
    pod = seed_pod("tokenless", {P + "inject": "true", P + "ambassador": "true"}, **RESTRICTED_CONTAINER)
    pod["spec"]["serviceAccountName"] = "no-token"
    answer = kube.create(pods(namespace), pod)
    stored = kube.must(answer)
    assert answer.warnings == ()
    spec = stored["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert not [name for name in volumes if name.startswith("kube-api-access-")]
    sources = volumes["downward-ambassador-token"]["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    ambassador = spec["initContainers"][0]
    assert ambassador["name"] == "downward-ambassador"
    assert {"name": "downward-ambassador-token", "readOnly": True, "mountPath": TOKEN_PATH} in ambassador[
        "volumeMounts"
    ]
    for container in spec["containers"]:
        mounts = container.get("volumeMounts", [])
        assert not [m for m in mounts if m["name"] == "downward-ambassador-token" or m["mountPath"] == TOKEN_PATH]
        assert {"name": PROXY_ENV_NAME, "value": "http://127.0.0.1:8001"} in container["env"]
    status = json.loads(stored["metadata"]["annotations"][P + "status"])
    assert status["tokenVolume"] == "downward-ambassador-token"
