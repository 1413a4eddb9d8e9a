"""The test clusters, one harness for the e2e suite and for ``make cluster``.

- ``ControlPlane``: etcd, kube-apiserver and kube-controller-manager on 127.0.0.1; no node. The contract
  tests register webhooks served by host processes with it.
- ``NodeCluster``: a one-node cluster (control plane, containerd, kubelet, kube-proxy) in namespaces of its
  own, running the images built here; the chart installs the webhook's image on it. See docs/e2e.md.

Modules: binaries (build.sh's output), pki, procs, components (control plane command lines), controlplane,
sandbox (the node's namespaces), node (its configuration), forward, images, leftovers, cluster, __main__.
"""

from tests.e2e.cluster.binaries import REPO_ROOT, Binaries, BuildFailed, ToolchainMissing, find_binaries
from tests.e2e.cluster.cluster import NodeCluster
from tests.e2e.cluster.controlplane import ControlPlane
from tests.e2e.cluster.pki import IssuedCert
from tests.e2e.cluster.procs import ClusterError

__all__ = [
    "REPO_ROOT",
    "Binaries",
    "BuildFailed",
    "ClusterError",
    "ControlPlane",
    "IssuedCert",
    "NodeCluster",
    "ToolchainMissing",
    "find_binaries",
]
