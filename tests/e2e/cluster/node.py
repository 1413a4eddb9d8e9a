"""The node's configuration: its network inside the sandbox, containerd, CNI, kubelet and kube-proxy.

Addresses (docs/e2e.md, "The node cluster"): they exist only inside the node's network namespace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.cluster.binaries import Binaries
from tests.e2e.cluster.sandbox import Sandbox

NODE_NAME = "downward-node"
NODE_IP = "10.250.0.1"  # on a port-less bridge: this kernel has no dummy links
CLUSTER_CIDR = "10.244.0.0/16"  # the controller-manager gives the node 10.244.0.0/24
POD_CIDR = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
SERVICE_CIDR = "10.96.0.0/24"
KUBERNETES_SERVICE_IP = "10.96.0.1"
CLUSTER_DNS_IP = "10.96.0.10"  # kubelet writes it into resolv.conf; nothing serves it (no cluster DNS)
APISERVER_PORT = 6443
NODE_BRIDGE = "node0"
POD_BRIDGE = "cni0"
PAUSE_IMAGE = "localhost/downward/pause:1"


def set_up_network(sandbox: Sandbox) -> None:
    """lo, the node address, and a route for the Service range.

    The apiserver reaches webhook Services through their ClusterIP; a local connect() is routed before
    kube-proxy's DNAT, so the range needs a route (there is no default route: nothing leads out).
    """
    sandbox.run("ip", "link", "set", "lo", "up")
    sandbox.run("ip", "link", "add", NODE_BRIDGE, "type", "bridge")
    sandbox.run("ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_BRIDGE)
    sandbox.run("ip", "link", "set", NODE_BRIDGE, "up")
    sandbox.run("ip", "route", "add", SERVICE_CIDR, "dev", NODE_BRIDGE, "src", NODE_IP)


@dataclass(frozen=True)
class NodePaths:
    """Files and directories of the node under the cluster's state directory."""

    state: Path

    @property
    def containerd_dir(self) -> Path:
        return self.state / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_dir / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.containerd_dir / "config.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state / "cni"

    @property
    def kubelet_config(self) -> Path:
        return self.state / "kubelet" / "config.yaml"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet" / "root"

    @property
    def kube_proxy_config(self) -> Path:
        return self.state / "kube-proxy.yaml"

    @property
    def pki(self) -> Path:
        return self.state / "pki"


def write_containerd_config(paths: NodePaths, bins: Binaries) -> None:
    """containerd 2.x (config version 3), everything under the state dir, runc from Debian.

    restrict_oom_score_adj: the CRI gives sandboxes oom_score_adj -998 and kubelet Guaranteed containers
    -997; root here lacks CAP_SYS_RESOURCE, so lowering it fails inside runc ("can't get final child's
    PID from pipe"). This clamps them to containerd's own score instead.
    """
    d = paths.containerd_dir
    d.mkdir(parents=True, exist_ok=True)
    paths.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    paths.containerd_config.write_text(
        f"""version = 3
root = "{d / "root"}"
state = "{d / "state"}"
imports = []
# NRI would read /etc/nri and serve /var/run/nri: nothing here uses it.
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "{paths.containerd_socket}"
[ttrpc]
  address = "{paths.containerd_socket}.ttrpc"
[debug]
  address = "{d / "debug.sock"}"
[metrics]
  address = ""

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{PAUSE_IMAGE}"

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "{d / "runc"}"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "{paths.cni_conf_dir}"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
""",
        encoding="utf-8",
    )
    # The pod network: a bridge with the node as gateway, no masquerade (no traffic leaves the node), hairpin
    # so a pod reaches itself through its own Service. containerd brings lo up itself.
    conflist = {
        "cniVersion": "1.0.0",
        "name": "downward-pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": POD_BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(paths.state / "cni-ipam"),
                    "ranges": [[{"subnet": POD_CIDR, "gateway": POD_GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (paths.cni_conf_dir / "10-downward.conflist").write_text(json.dumps(conflist, indent=2))


def write_kubelet_config(paths: NodePaths, cgroup_root: str) -> None:
    """KubeletConfiguration for this host: cgroup v1, no CAP_SYS_RESOURCE, certificates from our CA."""
    paths.kubelet_root.mkdir(parents=True, exist_ok=True)
    resolv = paths.state / "kubelet" / "resolv.conf"
    resolv.write_text(f"nameserver {CLUSTER_DNS_IP}\nsearch cluster.local\noptions ndots:5\n")
    pki = paths.pki
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # this host runs cgroup v1; kubelet >= 1.35 refuses it otherwise
        "cgroupDriver": "cgroupfs",
        # Pods' cgroups under a root of this cluster's own, removed when it stops (leftovers.py).
        "cgroupRoot": cgroup_root,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "failSwapOn": False,
        "address": NODE_IP,
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        # A test node on a shared disk: never evict or garbage-collect the images built here.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "resolvConf": str(resolv),
        "clusterDNS": [CLUSTER_DNS_IP],
        "clusterDomain": "cluster.local",
        "podLogsDir": str(paths.state / "pod-logs"),
        "oomScoreAdj": 0,  # the default -999 cannot be applied without CAP_SYS_RESOURCE
        "serializeImagePulls": False,
        "syncFrequency": "10s",
    }
    paths.kubelet_config.write_text(json.dumps(config, indent=2))


def kubelet_argv(bins: Binaries, paths: NodePaths) -> list[str]:
    return [
        str(bins.kubelet),
        f"--config={paths.kubelet_config}",
        f"--kubeconfig={paths.state / 'kubelet' / 'kubeconfig'}",
        f"--root-dir={paths.kubelet_root}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
    ]


def write_kube_proxy_config(paths: NodePaths) -> None:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(paths.state / "kube-proxy.kubeconfig")},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": CLUSTER_CIDR,
        "bindAddress": NODE_IP,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        # conntrack limits are global sysctls, not the node's own: leave them alone.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }
    paths.kube_proxy_config.write_text(json.dumps(config, indent=2))


def kube_proxy_argv(bins: Binaries, paths: NodePaths) -> list[str]:
    return [str(bins.kube_proxy), f"--config={paths.kube_proxy_config}"]


def containerd_argv(bins: Binaries, paths: NodePaths) -> list[str]:
    return [str(bins.containerd), f"--config={paths.containerd_config}"]
