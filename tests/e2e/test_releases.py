"""What changed between the oldest supported release (1.29) and the newest, through each release's apiserver.

The webhook cannot know the apiserver's version at admission (an AdmissionReview does not say), so it injects
what was asked on every release; these tests show what each apiserver makes of it. On 1.29 the fields it
leans on are beta and on by default (``status.hostIPs``: PodHostIPs; the native sidecar's
``restartPolicy: Always``: SidecarContainers); a cluster that turned those gates off refuses the pod, and
the refusal reaches the client.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chart_helpers import Helm
from tests.e2e.cluster import Binaries, ControlPlane
from tests.e2e.cluster.releases import Release
from tests.e2e.kube import Kube
from tests.e2e.registration import RunningWebhook, registered, start_server
from tests.e2e.test_injection import P, expected_env, pods, seed_pod

#: Feature gates that are beta (on by default, may be turned off) on a pinned release and GA later.
BETA_GATES = {"1.29": ("PodHostIPs", "SidecarContainers")}
MODE_LABEL = "e2e.downward.dev/ambassador-mode"


def test_host_ips_is_stored_as_asked(kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    """HOST_IPS (status.hostIPs) on every release: GA from 1.30, beta and on by default in 1.29."""
    pod = seed_pod("host-ips", {P + "inject": "true", P + "env": "HOST_IP,HOST_IPS"})
    stored = kube.must(kube.create(pods(namespace), pod))
    assert stored["spec"]["containers"][0]["env"] == expected_env("main", ("HOST_IP", "HOST_IPS"))


@pytest.fixture(scope="module")
def gates_off(release: Release, release_binaries: Binaries) -> Iterator[tuple[ControlPlane, Kube]]:
    """The release's control plane started with its beta gates off (a cluster whose operator did that)."""
    gates = BETA_GATES[release.minor]  # the test using it is marked releases(*BETA_GATES)
    flag = "--feature-gates=" + ",".join(f"{gate}=false" for gate in gates)
    with ControlPlane(release_binaries, extra_apiserver_args=[flag]) as cp:
        kube = Kube(cp)
        try:
            yield cp, kube
        finally:
            kube.close()


def _namespace(cp: ControlPlane, kube: Kube, mode: str) -> str:
    name = f"e2e-{mode}-{uuid.uuid4().hex[:6]}"
    kube.must(kube.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": {MODE_LABEL: mode}}}))
    cp.wait_for_default_serviceaccount(name, timeout=60)
    return name


@pytest.mark.releases(*BETA_GATES)  # on 1.37 both gates are GA: there is nothing to turn off
def test_with_the_beta_gates_off_the_apiserver_refuses_and_container_mode_works(
    gates_off: tuple[ControlPlane, Kube], helm: Helm, tmp_path: Path
) -> None:
    """On 1.29 with PodHostIPs and SidecarContainers off: HOST_IPS is refused naming the gate, the native
    ambassador is refused (its restartPolicy is dropped, and an init container may not have a startup probe),
    and the ambassador in `mode: container` is admitted: the fallback README's "The ambassador" names."""
    cp, kube = gates_off
    servers = {
        "native": start_server(cp, tmp_path / "native"),
        "container": start_server(cp, tmp_path / "container", "ambassador:\n  mode: container\n"),
    }
    namespaces = {mode: _namespace(cp, kube, mode) for mode in servers}
    try:
        with (
            registered(kube, helm, servers["native"], _values("native"), ca_pem=cp.ca_pem,
                       probe_namespace=namespaces["native"]),
            registered(kube, helm, servers["container"], _values("container"), ca_pem=cp.ca_pem,
                       probe_namespace=namespaces["container"]),
        ):  # fmt: skip
            native = namespaces["native"]
            host_ips = kube.create(pods(native), seed_pod("host-ips", {P + "inject": "true", P + "env": "HOST_IPS"}))
            assert host_ips.status == 422, host_ips.body
            assert "may not be set when feature gate 'PodHostIPs' is not enabled" in host_ips.message
            kube.must(kube.create(pods(native), seed_pod("seed", {P + "inject": "true"})))  # the default set: fine

            sidecar = kube.create(pods(native), seed_pod("sidecar", {P + "inject": "true", P + "ambassador": "true"}))
            assert sidecar.status == 422, sidecar.body
            assert (
                "spec.initContainers[0].startupProbe: Forbidden: may not be set for init containers without "
                "restartPolicy=Always" in sidecar.message
            ), sidecar.message

            stored = kube.must(
                kube.create(
                    pods(namespaces["container"]), seed_pod("sidecar", {P + "inject": "true", P + "ambassador": "true"})
                )
            )
            assert "initContainers" not in stored["spec"]
            assert [c["name"] for c in stored["spec"]["containers"]] == ["main", "downward-ambassador"]
    finally:
        for name in namespaces.values():
            kube.call("DELETE", f"/api/v1/namespaces/{name}")
        for server in servers.values():
            server.stop()


def _values(mode: str) -> dict[str, object]:
    """The chart's values: failurePolicy Fail, only the namespaces labelled for this server's mode."""
    return {"webhook": {"failurePolicy": "Fail", "namespaceSelector": {"matchLabels": {MODE_LABEL: mode}}}}
