"""The operator's path on a real node: `helm install` runs the webhook's own image behind a Service, and the
apiserver calls it there with the chart's caBundle — no host process, no URL registration."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography import x509

from tests.chart_helpers import CHART_DIR, Helm, helm_binary
from tests.e2e.cluster import NodeCluster
from tests.e2e.cluster.chart import NAMESPACE, RELEASE
from tests.e2e.cluster.images import webhook_image_name
from tests.e2e.cluster.node import NODE_NAME
from tests.e2e.pods import Pods, busybox, eventually, webhook_pods


def test_the_chart_runs_the_image_built_here_on_the_node(node_cluster: NodeCluster) -> None:
    pods = webhook_pods(node_cluster)
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]  # the chart's replicaCount
    for pod in pods:
        assert pod["spec"]["nodeName"] == NODE_NAME
        (container,) = pod["spec"]["containers"]
        assert container["image"] == webhook_image_name()
        status = pod["status"]
        assert status["phase"] == "Running"
        assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
        (cstatus,) = status["containerStatuses"]
        assert cstatus["ready"], cstatus
        assert cstatus["restartCount"] == 0, cstatus
        # Readiness comes from the chart's probe, answered by the server in the container.
        assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
        Pods(node_cluster, NAMESPACE).assert_nothing_pulled(pod["metadata"]["name"])


def test_the_webhook_container_runs_non_root_on_a_read_only_root(node_cluster: NodeCluster) -> None:
    """What the process sees in the container, not only what the spec says."""
    ns = Pods(node_cluster, NAMESPACE)
    pod = webhook_pods(node_cluster)[0]
    name = pod["metadata"]["name"]
    (container,) = pod["spec"]["containers"]
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    run = [
        "python", "-c",
        "import os, pathlib\n"
        "print(os.getuid(), os.getgid())\n"
        "try:\n    pathlib.Path('/app-write-test').write_text('x')\n    print('writable')\n"
        "except OSError as e:\n    print('errno', e.errno)\n"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])",
    ]  # fmt: skip
    uid_gid, write, capeff = ns.exec(name, *run, container=container["name"]).split("\n")[:3]
    uid = int(uid_gid.split()[0])
    assert uid != 0
    assert write == "errno 30"  # EROFS
    assert int(capeff, 16) == 0


def test_the_apiserver_calls_the_webhook_through_its_service_with_the_charts_ca(node_cluster: NodeCluster) -> None:
    mwc = json.loads(node_cluster.kubectl("get", "mutatingwebhookconfigurations", RELEASE, "-o", "json"))
    clients = [hook["clientConfig"] for hook in mwc["webhooks"]]
    assert clients
    assert all("url" not in c for c in clients), clients
    assert all(c["service"]["namespace"] == NAMESPACE for c in clients), clients
    assert len({c["caBundle"] for c in clients}) == 1
    client = clients[0]
    ca = x509.load_pem_x509_certificate(base64.b64decode(client["caBundle"]))
    # The serving certificate the pods present is signed by that CA and names the Service.
    secret = json.loads(node_cluster.kubectl("-n", NAMESPACE, "get", "secrets", "-o", "json"))["items"]
    served = [
        x509.load_pem_x509_certificate(base64.b64decode(s["data"]["tls.crt"]))
        for s in secret
        if s["type"] == "kubernetes.io/tls"
    ]
    assert served, "no TLS secret in the release namespace"
    assert any(cert.issuer == ca.subject for cert in served)
    dns = (
        served[0]
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value.get_values_for_type(x509.DNSName)
    )
    assert f"{client['service']['name']}.{NAMESPACE}.svc" in dns
    # The Service's endpoints are the webhook pods: the only way the apiserver can reach the server.
    slices = json.loads(
        node_cluster.kubectl(
            "-n", NAMESPACE, "get", "endpointslices", "-l", f"kubernetes.io/service-name={client['service']['name']}",
            "-o", "json",
        )
    )["items"]  # fmt: skip
    endpoint_ips = {a for s in slices for e in s["endpoints"] for a in e["addresses"]}
    assert endpoint_ips == {p["status"]["podIP"] for p in webhook_pods(node_cluster)}


def test_a_pod_created_with_kubectl_is_injected_through_the_service(
    node_cluster: NodeCluster, node_namespace: str
) -> None:
    pods = Pods(node_cluster, node_namespace)
    pod = pods.run(busybox("probe", annotations={"downward.dev/inject": "true"}))
    assert "downward.dev/status" in pod["metadata"]["annotations"]
    assert pods.env("probe")["POD_NAME"] == "probe"
    pods.assert_nothing_pulled("probe")


def test_the_check_job_runs_in_the_cluster(node_cluster: NodeCluster, node_namespace: str) -> None:
    """The chart's checkJob on the node: `check -A` in a pod, as its ServiceAccount, reaching the webhook's
    Service from inside: the caBundle verified against the certificate the replicas serve, their readiness, and
    no opted-in pod left without injection (every pod here went through the webhook under Fail)."""
    helm = Helm(helm_binary(), node_cluster.state / "helm", {"KUBECONFIG": str(node_cluster.kubeconfig_path)})
    Pods(node_cluster, node_namespace).run(busybox("opted-in", annotations={"downward.dev/inject": "true"}))
    helm.run(
        "upgrade", RELEASE, str(CHART_DIR), "-n", NAMESPACE, "--reuse-values", "--set", "checkJob.enabled=true"
    ).check()
    ns = Pods(node_cluster, NAMESPACE)
    try:
        ns.kubectl("create", "job", "check-now", f"--from=cronjob/{RELEASE}-check")

        def finished() -> dict[str, Any] | None:
            job = json.loads(ns.kubectl("get", "job", "check-now", "-o", "json"))
            return job if job.get("status", {}).get("succeeded") or job.get("status", {}).get("failed") else None

        job = eventually("the check Job to finish", finished, timeout=120)
        log = ns.kubectl("logs", "job/check-now")
        assert job["status"].get("succeeded") == 1, log
        (pod,) = json.loads(ns.kubectl("get", "pods", "-l", "job-name=check-now", "-o", "json"))["items"]
        ns.assert_nothing_pulled(pod["metadata"]["name"])
        service = f"{RELEASE}.{NAMESPACE}.svc"
        assert ": the caBundle verifies the certificate served at " in log, log
        assert f" for {service}\n" in log, log
        assert f"  deployment {NAMESPACE}/{RELEASE}: 2/2 ready\n" in log, log
        assert log.endswith("downward-webhook check: 0 opted-in pods not injected\n"), log
        # The Job's pod is not a webhook replica: the Service still selects the two webhook pods only.
        assert len(webhook_pods(node_cluster)) == 2
    finally:
        ns.kubectl("delete", "job", "check-now", "--ignore-not-found", "--cascade=foreground", "--wait", check=False)
        helm.run(
            "upgrade", RELEASE, str(CHART_DIR), "-n", NAMESPACE, "--reuse-values", "--set", "checkJob.enabled=false"
        ).check()
