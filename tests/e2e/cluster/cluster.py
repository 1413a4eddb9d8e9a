"""A one-node Kubernetes cluster on this machine: the control plane, containerd, kubelet and kube-proxy,
all inside the node's own namespaces (sandbox.py), reached from the host through one loopback port.

Used by the node tests (tests/e2e/node) and by people (``make cluster``, ``make cluster-down``)::

    cluster = NodeCluster(Path(".cluster"), find_binaries()).start()
    cluster.kubectl("get", "nodes")
    cluster.stop()
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.e2e.cluster import components, leftovers, node
from tests.e2e.cluster.binaries import Binaries
from tests.e2e.cluster.controlplane import AdminAPI, client_env
from tests.e2e.cluster.images import Image, build_all
from tests.e2e.cluster.pki import CertificateAuthority, write_kubeconfig
from tests.e2e.cluster.procs import ClusterError, Proc, Processes, free_ports, http_status
from tests.e2e.cluster.sandbox import Sandbox

CONTEXT = "downward-local"


class NodeCluster:
    """One node cluster whose every file lives under ``state`` (``.cluster`` for ``make cluster``).

    ``detached``: the processes outlive this Python process (``make cluster``); otherwise they die with it.
    A start first undoes whatever an earlier cluster in the same ``state`` left (a crash included).
    """

    def __init__(
        self,
        state: Path,
        binaries: Binaries,
        *,
        detached: bool = False,
        log: Callable[[str], None] = print,
        startup_timeout: float = 180.0,
    ) -> None:
        self.state = state.resolve()
        self.bins = binaries
        self.detached = detached
        self.log = log
        self.startup_timeout = startup_timeout
        self.paths = node.NodePaths(self.state)
        self.host_port = 0
        self._procs: Processes | None = None
        self._sandbox: Sandbox | None = None
        self._api: AdminAPI | None = None
        self._ca: CertificateAuthority | None = None
        # The cgroup root of this cluster's pods, one per state directory.
        self.cgroup_root = "/downward-" + hashlib.sha256(str(self.state).encode()).hexdigest()[:10]

    # ---- what users of a running cluster need
    @property
    def kubeconfig_path(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.host_port}"

    @property
    def ca_pem(self) -> bytes:
        return (self.paths.pki / "ca.crt").read_bytes()

    @property
    def api(self) -> AdminAPI:
        if self._api is None:
            raise ClusterError("node cluster not started")
        return self._api

    @property
    def kubectl_path(self) -> Path:
        return self.state / "bin" / "kubectl"

    def env(self) -> dict[str, str]:
        return client_env(self.kubeconfig_path)

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120.0, stdin: str | None = None) -> str:
        """Run kubectl as a person would (the admin kubeconfig); its stdout, or ClusterError with stderr."""
        proc = subprocess.run(
            [str(self.kubectl_path), *args], capture_output=True, text=True, env=self.env(), timeout=timeout,
            input=stdin, check=False,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    # ---- lifecycle
    def start(self) -> NodeCluster:
        for done in leftovers.undo(self.state):
            self.log(f"cleaned up an earlier cluster: {done}")
        if self.state.exists():
            shutil.rmtree(self.state)
        self.state.mkdir(parents=True)
        images = build_all(self.bins, self.log)
        try:
            self._start(images)
        except BaseException:
            self.stop(keep_state=True)
            raise
        return self

    def _start(self, images: Sequence[Image]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        env = {**os.environ, "PATH": f"{self.bins.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        procs = self._procs = Processes(self.state / "logs", self.state, env, detached=self.detached)
        self._write_pki()
        (self.state / "bin").mkdir()
        self.kubectl_path.symlink_to(self.bins.kubectl)

        leftovers.make_cgroup_root(self.cgroup_root)
        sandbox = self._sandbox = Sandbox.create(procs, self.state)
        leftovers.record(self.state, holder_pid=sandbox.unshare.popen.pid, cgroup_root=self.cgroup_root)
        node.set_up_network(sandbox)
        node.write_containerd_config(self.paths, self.bins)
        node.write_kubelet_config(self.paths, self.cgroup_root)
        node.write_kube_proxy_config(self.paths)

        at = components.ControlPlaneLayout(
            workdir=self.state, pki=self.paths.pki, bind_address="0.0.0.0", advertise_address=node.NODE_IP,
            etcd_port=2379, etcd_peer_port=2380, apiserver_port=node.APISERVER_PORT, controller_manager_port=10257,
            scheduler_port=10259, service_cidr=node.SERVICE_CIDR, kubeconfig=self.state / "in-node.kubeconfig",
        )  # fmt: skip
        inside = sandbox.prefix
        # No wait for etcd: the apiserver retries it, and its /readyz below includes it.
        procs.spawn("etcd", components.etcd(self.bins, at), prefix=inside)
        apiserver = procs.spawn("kube-apiserver", components.kube_apiserver(self.bins, at, "https://kubernetes.default.svc.cluster.local", [
            "--authorization-mode=Node,RBAC",
            f"--enable-admission-plugins={components.ADMISSION_PLUGINS},NodeRestriction",
            f"--kubelet-client-certificate={self.paths.pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={self.paths.pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={self.paths.pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
        ]), prefix=inside)  # fmt: skip
        self._forward(procs, sandbox)
        ssl_context = self.api.ssl_context
        procs.wait_until(apiserver, lambda: http_status(f"{self.server_url}/readyz", ssl_context), deadline, "/readyz")
        kcm_args = ["--allocate-node-cidrs=true", f"--cluster-cidr={node.CLUSTER_CIDR}", "--node-cidr-mask-size=24"]
        procs.spawn(
            "kube-controller-manager", components.kube_controller_manager(self.bins, at, "*", kcm_args), prefix=inside
        )
        procs.spawn("kube-scheduler", components.kube_scheduler(self.bins, at), prefix=inside)

        containerd = procs.spawn("containerd", node.containerd_argv(self.bins, self.paths), prefix=inside)
        procs.wait_until(containerd, self._ctr_answers, deadline, "its socket")
        for image in images:
            self._ctr("images", "import", "--no-unpack", str(image.archive), what=f"importing {image.name}")
        kubelet = procs.spawn("kubelet", node.kubelet_argv(self.bins, self.paths), prefix=inside)
        procs.spawn("kube-proxy", node.kube_proxy_argv(self.bins, self.paths), prefix=inside)
        procs.wait_until(kubelet, self._node_not_ready, deadline, f"node {node.NODE_NAME} Ready")
        self.api.wait_for_default_serviceaccount("default", max(1.0, deadline - time.monotonic()))

    def stop(self, *, keep_state: bool = False) -> None:
        """Kill the node (its PID namespace takes every process with it) and undo what it left on the host."""
        if self._sandbox is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._sandbox.unshare.popen.pid, signal.SIGKILL)
        if self._procs is not None:
            self._procs.stop(grace=2.0)
        self._procs = self._sandbox = self._api = None
        for done in leftovers.undo(self.state):
            self.log(done)
        if not keep_state and os.environ.get("DOWNWARD_KEEP_CLUSTER") != "1":
            shutil.rmtree(self.state, ignore_errors=True)

    # ---- pieces
    def _write_pki(self) -> None:
        pki = self.paths.pki
        ca = self._ca = CertificateAuthority(pki, "downward-local-ca")
        ca.issue(
            "kube-apiserver",
            dns_names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"],
            ip_addresses=["127.0.0.1", node.NODE_IP, node.KUBERNETES_SERVICE_IP],
            server=True, stem="apiserver",
        )  # fmt: skip
        admin = ca.issue("downward-local-admin", organizations=["system:masters"], client=True, stem="admin")
        ca.issue(
            "kube-apiserver-kubelet-client",
            organizations=["system:masters"],
            client=True,
            stem="apiserver-kubelet-client",
        )
        # The Node authorizer and NodeRestriction know the kubelet by this name.
        kubelet = ca.issue(f"system:node:{node.NODE_NAME}", organizations=["system:nodes"], client=True, stem="kubelet")
        ca.issue(
            node.NODE_NAME, dns_names=[node.NODE_NAME], ip_addresses=[node.NODE_IP], server=True, stem="kubelet-serving"
        )
        ca.service_account_keys()
        # The host's one way in: a free loopback port, forwarded into the node (forward.py).
        (self.host_port,) = free_ports(1)
        write_kubeconfig(self.kubeconfig_path, server=self.server_url, ca=ca, user=admin, name=CONTEXT)
        inside = f"https://127.0.0.1:{node.APISERVER_PORT}"
        write_kubeconfig(self.state / "in-node.kubeconfig", server=inside, ca=ca, user=admin, name=CONTEXT)
        (self.state / "kubelet").mkdir()
        write_kubeconfig(self.state / "kubelet" / "kubeconfig", server=inside, ca=ca, user=kubelet, name=CONTEXT)
        write_kubeconfig(self.state / "kube-proxy.kubeconfig", server=inside, ca=ca, user=admin, name=CONTEXT)
        self._api = AdminAPI(self.server_url, pki / "ca.crt", admin)

    def _forward(self, procs: Processes, sandbox: Sandbox, host_port: int | None = None, port: int = 0) -> Proc:
        """Forward a loopback port of the host (the apiserver's by default) to ``port`` in the node."""
        listener = socket.create_server(("127.0.0.1", host_port or self.host_port))
        try:
            # Run as a file, not through this package, whose imports it does not need.
            argv = [sys.executable, str(Path(__file__).with_name("forward.py")), str(listener.fileno()),
                    f"127.0.0.1:{port or node.APISERVER_PORT}"]  # fmt: skip
            name = "forward" if host_port is None else f"forward-{port}"
            return procs.spawn(name, argv, prefix=sandbox.prefix, pass_fds=[listener.fileno()])
        finally:
            listener.close()  # the forwarder holds its own copy

    def run_in_node(self, name: str, argv: Sequence[str], *, forward_port: int = 0) -> tuple[list[Proc], int]:
        """Start a long-running program inside the node (its network, mounts and PIDs; it dies with the node),
        logging to logs/<name>.log; with ``forward_port``, also forward a free loopback port of the host to
        that port in the node. Returns the processes (stop them with :meth:`stop_processes`) and the host port."""
        if self._procs is None or self._sandbox is None:
            raise ClusterError("node cluster not started")
        procs = [self._procs.spawn(name, argv, prefix=self._sandbox.prefix)]
        host_port = 0
        if forward_port:
            (host_port,) = free_ports(1)
            procs.append(self._forward(self._procs, self._sandbox, host_port, forward_port))
        return procs, host_port

    def stop_processes(self, procs: Sequence[Proc]) -> None:
        """Stop what :meth:`run_in_node` started (newest first)."""
        if self._procs is not None:
            self._procs.stop_some(procs)

    def _ctr(self, *args: str, what: str) -> str:
        proc = subprocess.run(
            [str(self.bins.ctr), "--address", str(self.paths.containerd_socket), "--namespace", "k8s.io", *args],
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        if proc.returncode != 0:
            raise ClusterError(f"{what} failed: {proc.stderr.strip()}")
        return proc.stdout

    def _ctr_answers(self) -> str | None:
        try:
            self._ctr("version", what="ctr version")
        except ClusterError as exc:
            return str(exc)
        return None

    def _node_not_ready(self) -> str | None:
        status, body = self.api.request("GET", f"/api/v1/nodes/{node.NODE_NAME}")
        if status != 200:
            return f"HTTP {status}"
        ready = [c for c in body["status"].get("conditions", []) if c["type"] == "Ready"]
        return None if ready and ready[0]["status"] == "True" else json.dumps(ready)
