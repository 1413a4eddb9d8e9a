"""The ambassador in running pods (Kubernetes in Action 8.2.3): the main container reaches the API server through
`kubectl proxy` on 127.0.0.1:8001, as the pod's ServiceAccount, and nobody else reaches the proxy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.cluster import ClusterError, NodeCluster
from tests.e2e.pods import EXAMPLES, RESTRICTED_CONTAINER, Pods, eventually, load

AMBASSADOR = "downward-ambassador"


def _curl_pod(name: str, command: str | None = None) -> dict[str, Any]:
    manifest = load(EXAMPLES / "curl-with-ambassador.yaml")
    manifest["metadata"]["name"] = name
    manifest["spec"]["terminationGracePeriodSeconds"] = 1
    if command is not None:
        manifest["spec"]["containers"][0]["command"] = ["sh", "-c", command]
    return manifest


def _http(pods: Pods, pod: str, path: str) -> tuple[int, str]:
    """curl from the main container through $KUBE_API_PROXY_URL: (status, body)."""
    out = pods.exec(pod, "sh", "-c", f'curl -s -w "\\n%{{http_code}}" "$KUBE_API_PROXY_URL{path}"')
    body, _, status = out.rpartition("\n")
    return int(status), body


def _list_once_allowed(pods: Pods, pod: str, namespace: str) -> dict[str, Any]:
    """Let the default ServiceAccount list pods (a Role and its binding), then list them through the proxy."""
    pods.kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods")
    pods.kubectl("create", "rolebinding", "pod-reader", "--role=pod-reader", f"--serviceaccount={namespace}:default")

    def listed() -> dict[str, Any] | None:
        status, body = _http(pods, pod, f"/api/v1/namespaces/{namespace}/pods")
        return json.loads(body) if status == 200 else None

    result: dict[str, Any] = eventually("RBAC to allow the pod list", listed, timeout=30)
    return result


def test_the_proxy_answers_as_the_pods_service_account(node_cluster: NodeCluster, node_namespace: str) -> None:
    pods = Pods(node_cluster, node_namespace)
    pod = pods.run(_curl_pod("curl-with-ambassador"))
    assert pods.env("curl-with-ambassador")["KUBE_API_PROXY_URL"] == "http://127.0.0.1:8001"
    (sidecar,) = [c for c in pod["spec"]["initContainers"] if c["name"] == AMBASSADOR]
    assert sidecar["restartPolicy"] == "Always"
    pods.assert_nothing_pulled("curl-with-ambassador")

    # The book's first demo, `curl localhost:8001`, lists the API's paths: the book's SA was cluster-admin.
    # Under default RBAC a ServiceAccount may discover (/api, /version, ...) but not read "/" itself.
    status, body = _http(pods, "curl-with-ambassador", "/api")
    assert status == 200
    assert json.loads(body)["kind"] == "APIVersions"

    path = f"/api/v1/namespaces/{node_namespace}/pods"
    status, body = _http(pods, "curl-with-ambassador", path)
    assert status == 403, body
    message = json.loads(body)["message"]
    assert f'"system:serviceaccount:{node_namespace}:default" cannot list resource "pods"' in message

    pod_list = _list_once_allowed(pods, "curl-with-ambassador", node_namespace)
    assert pod_list["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in pod_list["items"]] == ["curl-with-ambassador"]


def test_the_main_container_starts_after_the_proxy_answers(node_cluster: NodeCluster, node_namespace: str) -> None:
    """The native sidecar's startup probe gates the app: its very first request succeeds, with no retry."""
    pods = Pods(node_cluster, node_namespace)
    first = 'curl -s -o /dev/null -w "%{http_code}\\n" "$KUBE_API_PROXY_URL/version"; exec sleep 9999999'
    pods.run(_curl_pod("first", first))
    assert pods.logs("first").splitlines()[0] == "200"


def test_a_job_with_the_ambassador_completes(node_cluster: NodeCluster, node_namespace: str) -> None:
    """A regular sidecar container would keep the Job's pod running forever; a native one ends with it."""
    pods = Pods(node_cluster, node_namespace)
    template = _curl_pod("ignored", 'curl -sf "$KUBE_API_PROXY_URL/version"')
    del template["metadata"]["name"]
    template["spec"]["restartPolicy"] = "Never"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "ask-version"},
        "spec": {"backoffLimit": 0, "template": {"metadata": template["metadata"], "spec": template["spec"]}},
    }
    pods.create(job)
    pods.kubectl("wait", "--for=condition=Complete", "job/ask-version", "--timeout=120s")
    (pod,) = json.loads(pods.kubectl("get", "pods", "-l", "job-name=ask-version", "-o", "json"))["items"]
    assert pod["status"]["phase"] == "Succeeded"
    assert '"gitVersion"' in pods.logs(pod["metadata"]["name"])
    (sidecar,) = [s for s in pod["status"]["initContainerStatuses"] if s["name"] == AMBASSADOR]
    assert "terminated" in sidecar["state"], sidecar  # stopped by the kubelet when the main container ended


def test_the_proxy_is_not_reachable_from_other_pods(node_cluster: NodeCluster, node_namespace: str) -> None:
    pods = Pods(node_cluster, node_namespace)
    # The target serves its own /etc/downward on its pod IP, so the network between the pods is shown to work.
    target_manifest = load(EXAMPLES / "pod.yaml")
    target_manifest["metadata"]["name"] = "target"
    target_manifest["metadata"]["annotations"]["downward.dev/ambassador"] = "true"
    target_manifest["spec"]["containers"][0]["command"] = ["httpd", "-f", "-p", "8080", "-h", "/etc/downward"]
    target_manifest["spec"]["containers"][0]["resources"]["limits"]["memory"] = "16Mi"
    target = pods.run(target_manifest)
    pods.run(_curl_pod("other"))
    ip = target["status"]["podIP"]
    assert pods.exec("other", "curl", "-s", "-m", "5", f"http://{ip}:8080/podName") == "target"
    out = pods.exec("other", "sh", "-c", f"curl -s -m 5 http://{ip}:8001/version; echo rc=$?")
    assert out.strip().endswith("rc=7"), out  # connection refused: the proxy listens on the pod's loopback only
    # ...and inside the target it answers.
    assert '"gitVersion"' in pods.exec("target", "wget", "-q", "-O", "-", "http://127.0.0.1:8001/version")


def test_injected_pods_run_in_a_restricted_namespace(node_cluster: NodeCluster, node_namespace: str) -> None:
    """PodSecurity "restricted" enforces on the injected pod, ambassador included, and it runs."""
    pods = Pods(node_cluster, node_namespace)
    node_cluster.kubectl("label", "namespace", node_namespace, "pod-security.kubernetes.io/enforce=restricted")
    # The namespace does enforce: the seed's pod as written (root, no seccomp) is refused.
    with pytest.raises(ClusterError, match='violates PodSecurity "restricted'):
        pods.create(_curl_pod("loose"))
    manifest = _curl_pod("restricted")
    manifest["spec"]["containers"][0]["securityContext"] = RESTRICTED_CONTAINER
    pod = pods.run(manifest)
    assert {c["name"] for c in pod["spec"]["initContainers"]} == {AMBASSADOR}
    assert all(s["ready"] for s in pod["status"]["containerStatuses"] + pod["status"]["initContainerStatuses"])
    status, _ = _http(pods, "restricted", "/version")
    assert status == 200
    assert pods.env("restricted")["POD_NAME"] == "restricted"


def test_without_a_token_the_ambassador_alone_holds_one(node_cluster: NodeCluster, node_namespace: str) -> None:
    """automountServiceAccountToken: false: the app has no token file, and still lists pods through the proxy."""
    pods = Pods(node_cluster, node_namespace)
    manifest = _curl_pod("tokenless")
    manifest["spec"]["automountServiceAccountToken"] = False
    pod = pods.run(manifest)
    assert "downward-ambassador-token" in {v["name"] for v in pod["spec"]["volumes"]}
    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    check = f"if [ -e {token} ]; then echo present; else echo absent; fi; ls -A /var/run/secrets 2>/dev/null | wc -l"
    assert pods.exec("tokenless", "sh", "-c", check).split() == ["absent", "0"]

    path = f"/api/v1/namespaces/{node_namespace}/pods"
    status, body = _http(pods, "tokenless", path)
    assert status == 403, body  # authenticated as the pod's ServiceAccount, which RBAC does not allow yet
    assert f'"system:serviceaccount:{node_namespace}:default" cannot list' in json.loads(body)["message"]
    pod_list = _list_once_allowed(pods, "tokenless", node_namespace)
    assert pod_list["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in pod_list["items"]] == ["tokenless"]
