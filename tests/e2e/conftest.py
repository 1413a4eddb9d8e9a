"""Fixtures for the e2e suite: a real control plane per pinned Kubernetes release and one real node cluster.

``control_plane`` (no node; webhooks under test are host processes registered by URL) is parametrized by
release (ids ``k8s1.37``, ``k8s1.29``: every pin under tools/kube), so every test that uses it runs on each;
``DOWNWARD_E2E_K8S=1.29`` (a comma list of minors) selects. ``node_cluster`` (containerd, kubelet, kube-proxy;
the webhook's image installed by its chart) runs the newest release only, and the node tests
(``test_node_*.py``) skip when it is not selected. They build the binaries on first use (``make kube-tools``,
~16 min cold; cached under ~/.cache/downward-webhook) unless ``DOWNWARD_KUBE_BUILD=0``, and skip with a
one-line reason when they cannot be had (no ``go``, not root) — except under ``CI=true``, where this machine
can run them all and a skip would hide a broken set-up.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# `tests` is a package but tests/e2e has no __init__.py, so pytest imports this file as
# a top-level `conftest`; put the repo root on sys.path so `tests.e2e.controlplane`
# imports the same way under every pytest import mode and for mypy.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.chart_helpers import Helm  # noqa: E402
from tests.e2e.cluster import REPO_ROOT, Binaries, ControlPlane, NodeCluster, ToolchainMissing, find_binaries  # noqa: E402
from tests.e2e.cluster.binaries import find_control_plane  # noqa: E402
from tests.e2e.cluster.chart import install_webhook, wait_for_injection  # noqa: E402
from tests.e2e.cluster.releases import NEWEST, SELECT_ENV, Release, selected  # noqa: E402
from tests.e2e.kube import Kube  # noqa: E402
from tests.e2e.registration import ISOLATED, RunningWebhook, registered, start_server  # noqa: E402

if TYPE_CHECKING:
    from lightkube import Client


try:
    RELEASES = selected()
except ValueError as exc:
    raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark everything under tests/e2e with the `e2e` marker (`pytest -m "not e2e"`); skip the node tests
    when the newest release is not selected (they run on it only); deselect a `releases(...)` test on the
    releases it does not name (a test of 1.29's beta gates does not exist on 1.37, where they are GA)."""
    here = Path(__file__).resolve().parent
    node_only_newest = pytest.mark.skip(
        reason=f"the node tests run on the newest release ({NEWEST.minor}) only; ${SELECT_ENV} leaves it out"
    )
    kept, deselected = [], []
    for item in items:
        if here in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)
            if item.path.name.startswith("test_node_") and NEWEST not in RELEASES:
                item.add_marker(node_only_newest)
        only = item.get_closest_marker("releases")
        callspec = getattr(item, "callspec", None)  # only parametrized items have one
        release = callspec.params.get("release") if callspec is not None else None
        if only is not None and isinstance(release, Release) and release.minor not in only.args:
            deselected.append(item)
        else:
            kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def skip_unless_ci(reason: str) -> None:
    """Skip with ``reason``; under CI=true fail instead: CI runs on a machine that has everything."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: this machine can run it, so this is a broken set-up)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kube_binaries() -> Binaries:
    """The built Kubernetes, etcd, helm and containerd binaries (skip if impossible)."""
    try:
        return find_binaries(build=os.environ.get("DOWNWARD_KUBE_BUILD", "1") != "0")
    except ToolchainMissing as exc:
        skip_unless_ci(str(exc))
        raise


@pytest.fixture(scope="session", params=RELEASES, ids=[r.id for r in RELEASES])
def release(request: pytest.FixtureRequest) -> Release:
    """The pinned Kubernetes release the control-plane tests run on (each in turn)."""
    chosen: Release = request.param
    return chosen


@pytest.fixture(scope="session")
def release_binaries(kube_binaries: Binaries, release: Release) -> Binaries:
    """The newest pin's binaries with ``release``'s kube-apiserver, kube-controller-manager and etcd."""
    if release.newest:
        return kube_binaries
    try:
        build = os.environ.get("DOWNWARD_KUBE_BUILD", "1") != "0"
        return kube_binaries.with_control_plane(find_control_plane(release.pin_dir, build=build))
    except ToolchainMissing as exc:
        skip_unless_ci(str(exc))
        raise


@pytest.fixture(scope="session")
def control_plane(release_binaries: Binaries) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager of one release, started once per session and release."""
    cp = ControlPlane(release_binaries)
    with cp:
        yield cp


@pytest.fixture(scope="session")
def node_cluster(kube_binaries: Binaries) -> Iterator[NodeCluster]:
    """The one-node cluster with the webhook's image installed by the chart, as ``make cluster`` does, but
    with failurePolicy Fail: a webhook that cannot be called must fail these tests, not skip injection."""
    if os.geteuid() != 0:
        skip_unless_ci("the node cluster needs root (namespaces, mounts, cgroups)")
    cluster = NodeCluster(REPO_ROOT / ".e2e-cluster", kube_binaries, log=lambda line: print(line, file=sys.stderr))
    cluster.start()
    try:
        helm = Helm(kube_binaries.helm, cluster.state / "helm", {"KUBECONFIG": str(cluster.kubeconfig_path)})
        install_webhook(helm, "--set", "webhook.failurePolicy=Fail")
        wait_for_injection(cluster.api)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def node_namespace(node_cluster: NodeCluster) -> Iterator[str]:
    """A fresh namespace on the node cluster whose ``default`` ServiceAccount exists; deleted afterwards."""
    name = f"node-{uuid.uuid4().hex[:8]}"
    node_cluster.kubectl("create", "namespace", name)
    node_cluster.api.wait_for_default_serviceaccount(name, timeout=60)
    yield name
    node_cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def kube_client(control_plane: ControlPlane) -> Iterator[Client]:
    """A lightkube client authenticated as the admin (system:masters)."""
    from lightkube import Client, KubeConfig

    client = Client(KubeConfig.from_file(control_plane.kubeconfig_path), trust_env=False)
    yield client
    client.close()


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace whose ``default`` ServiceAccount exists; deleted afterwards."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    status, body = control_plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status == 201, body
    control_plane.wait_for_default_serviceaccount(name, timeout=60)
    yield name
    control_plane.request("DELETE", f"/api/v1/namespaces/{name}")


# --- the webhook under test, registered through the chart's configuration ------------------------------------


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Iterator[Kube]:
    """Admin API access that keeps status, body and the Warning headers the webhook sends."""
    client = Kube(control_plane)
    yield client
    client.close()


@pytest.fixture(scope="session")
def helm(kube_binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The real helm (built with the control plane), with an isolated home."""
    return Helm(kube_binaries.helm, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture
def make_namespace(control_plane: ControlPlane, kube: Kube) -> Iterator[Callable[..., str]]:
    """Create namespaces with labels (and wait for their default ServiceAccount); all deleted afterwards."""
    created: list[str] = []

    def make(**labels: str) -> str:
        name = f"e2e-{uuid.uuid4().hex[:8]}"
        kube.must(kube.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels}}))
        created.append(name)
        control_plane.wait_for_default_serviceaccount(name, timeout=60)
        return name

    yield make
    for name in created:
        kube.call("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def webhook(
    control_plane: ControlPlane, kube: Kube, helm: Helm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningWebhook]:
    """`downward-webhook serve`, registered for every namespace not labelled e2e.downward.dev/isolated.

    failurePolicy Fail here: a webhook that cannot be called must fail these tests, not skip injection.
    """
    server = start_server(control_plane, tmp_path_factory.mktemp("webhook"))
    probe = f"e2e-probe-{uuid.uuid4().hex[:6]}"
    kube.must(kube.create("/api/v1/namespaces", {"metadata": {"name": probe}}))
    control_plane.wait_for_default_serviceaccount(probe, timeout=60)
    values = {
        "webhook": {
            "failurePolicy": "Fail",
            "namespaceSelector": {"matchExpressions": [{"key": ISOLATED, "operator": "DoesNotExist"}]},
        }
    }
    try:
        with registered(kube, helm, server, values, ca_pem=control_plane.ca_pem, probe_namespace=probe) as running:
            yield running
    finally:
        kube.call("DELETE", f"/api/v1/namespaces/{probe}")
        server.stop()
