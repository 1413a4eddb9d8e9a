"""Smoke tests of the e2e control plane itself (not of the webhook).

They prove the harness gives the webhook tests a realistic cluster: the
controller-manager runs (default ServiceAccount, Deployment -> Pods), ServiceAccount
admission is on (projected kube-api-access-* volume), PodSecurity admission is on,
and the built helm is v4 and talks to the cluster. Client: lightkube.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import (
    Capabilities,
    Container,
    PodSpec,
    PodTemplateSpec,
    SeccompProfile,
    SecurityContext,
)
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod, ServiceAccount

from tests.e2e.cluster import Binaries, ControlPlane
from tests.e2e.cluster.releases import Release

IMAGE = "registry.k8s.io/pause:3.10"  # never pulled: there is no kubelet


def test_binaries_report_pinned_version(
    control_plane: ControlPlane, release_binaries: Binaries, release: Release
) -> None:
    want = release.version  # tools/kube/go.mod, or tools/kube/<minor>/go.mod for an older release
    for program in (release_binaries.kube_apiserver, release_binaries.kube_controller_manager):
        out = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=True).stdout
        assert out.strip() == f"Kubernetes {want}"
    status, body = control_plane.request("GET", "/version")
    assert status == 200
    assert body["gitVersion"] == want


def test_namespace_gets_default_serviceaccount(control_plane: ControlPlane, kube_client: Client) -> None:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    kube_client.create(Namespace(metadata=ObjectMeta(name=name)))
    try:
        control_plane.wait_for_default_serviceaccount(name, timeout=60)
        sa = kube_client.get(ServiceAccount, "default", namespace=name)
        assert sa.metadata is not None
        assert sa.metadata.name == "default"
    finally:
        kube_client.delete(Namespace, name)


def test_pod_gets_projected_serviceaccount_token(kube_client: Client, namespace: str) -> None:
    pod = kube_client.create(
        Pod(
            metadata=ObjectMeta(name="sa-admission"),
            spec=PodSpec(containers=[Container(name="c", image=IMAGE)]),
        ),
        namespace=namespace,
    )
    assert pod.spec is not None
    assert pod.spec.serviceAccountName == "default"
    volumes = [v for v in pod.spec.volumes or [] if v.name.startswith("kube-api-access-")]
    assert len(volumes) == 1, pod.spec.volumes
    projected = volumes[0].projected
    assert projected is not None
    assert any(s.serviceAccountToken is not None for s in projected.sources or [])
    mounts = pod.spec.containers[0].volumeMounts or []
    assert any(
        m.name == volumes[0].name and m.mountPath == "/var/run/secrets/kubernetes.io/serviceaccount" for m in mounts
    )
    # Stored, not just returned.
    stored = kube_client.get(Pod, "sa-admission", namespace=namespace)
    assert stored.spec is not None
    assert stored.spec.volumes == pod.spec.volumes


def test_podsecurity_restricted_rejects_privileged_pod(control_plane: ControlPlane, kube_client: Client) -> None:
    name = f"smoke-psa-{uuid.uuid4().hex[:8]}"
    kube_client.create(
        Namespace(metadata=ObjectMeta(name=name, labels={"pod-security.kubernetes.io/enforce": "restricted"}))
    )
    try:
        control_plane.wait_for_default_serviceaccount(name, timeout=60)
        privileged = Pod(
            metadata=ObjectMeta(name="privileged"),
            spec=PodSpec(
                containers=[Container(name="c", image=IMAGE, securityContext=SecurityContext(privileged=True))]
            ),
        )
        with pytest.raises(ApiError) as err:
            kube_client.create(privileged, namespace=name)
        assert err.value.status.code == 403
        assert "violates PodSecurity" in (err.value.status.message or "")

        # ...while a restricted-compliant pod is admitted: the rejection is PodSecurity's.
        compliant = Pod(
            metadata=ObjectMeta(name="restricted-ok"),
            spec=PodSpec(
                containers=[
                    Container(
                        name="c",
                        image=IMAGE,
                        securityContext=SecurityContext(
                            allowPrivilegeEscalation=False,
                            runAsNonRoot=True,
                            runAsUser=65532,
                            capabilities=Capabilities(drop=["ALL"]),
                            seccompProfile=SeccompProfile(type="RuntimeDefault"),
                        ),
                    )
                ]
            ),
        )
        kube_client.create(compliant, namespace=name)
    finally:
        kube_client.delete(Namespace, name)


def test_deployment_creates_pods(kube_client: Client, namespace: str) -> None:
    labels = {"app": "smoke"}
    kube_client.create(
        Deployment(
            metadata=ObjectMeta(name="smoke"),
            spec=DeploymentSpec(
                replicas=2,
                selector=LabelSelector(matchLabels=labels),
                template=PodTemplateSpec(
                    metadata=ObjectMeta(labels=labels),
                    spec=PodSpec(containers=[Container(name="c", image=IMAGE)]),
                ),
            ),
        ),
        namespace=namespace,
    )
    deadline = time.monotonic() + 60
    pods: list[Pod] = []
    while time.monotonic() < deadline:
        pods = list(kube_client.list(Pod, namespace=namespace, labels={"app": "smoke"}))
        if len(pods) == 2:
            break
        time.sleep(0.5)
    assert len(pods) == 2
    for p in pods:  # made by the ReplicaSet, through the same admission chain
        assert p.spec is not None
        assert any(v.name.startswith("kube-api-access-") for v in p.spec.volumes or [])


def test_helm_is_v4_and_reaches_cluster(control_plane: ControlPlane, kube_binaries: Binaries, tmp_path: Path) -> None:
    env = control_plane.env()
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(tmp_path / var.lower())
    version = subprocess.run(
        [str(kube_binaries.helm), "version", "--template", "{{.Version}}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.strip()
    assert re.fullmatch(r"v4\.\d+\.\d+", version), version
    listed = subprocess.run(
        [str(kube_binaries.helm), "list", "--all-namespaces", "--output", "json"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "[]"
