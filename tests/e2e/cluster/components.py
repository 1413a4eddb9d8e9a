"""Command lines of the control plane's components, shared by the loopback control plane and the node cluster."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.e2e.cluster.binaries import Binaries

# Default-on already; listed so nobody turns them off by accident. NodeRestriction is added on the node.
ADMISSION_PLUGINS = "NamespaceLifecycle,ServiceAccount,PodSecurity,MutatingAdmissionWebhook,ValidatingAdmissionWebhook"


@dataclass(frozen=True)
class ControlPlaneLayout:
    """Where a control plane lives: its directories, addresses and ports."""

    workdir: Path
    pki: Path
    bind_address: str
    advertise_address: str
    etcd_port: int
    etcd_peer_port: int
    apiserver_port: int
    controller_manager_port: int
    scheduler_port: int
    service_cidr: str
    #: The kubeconfig the controller-manager and scheduler use (admin, pointing at the apiserver).
    kubeconfig: Path

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"


def etcd(bins: Binaries, at: ControlPlaneLayout) -> list[str]:
    peer = f"http://127.0.0.1:{at.etcd_peer_port}"
    return [
        str(bins.etcd),
        "--name=default",
        f"--data-dir={at.workdir / 'etcd'}",
        f"--listen-client-urls={at.etcd_url}",
        f"--advertise-client-urls={at.etcd_url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def kube_apiserver(bins: Binaries, at: ControlPlaneLayout, issuer: str, extra: list[str]) -> list[str]:
    return [
        str(bins.kube_apiserver),
        f"--etcd-servers={at.etcd_url}",
        f"--bind-address={at.bind_address}",
        f"--advertise-address={at.advertise_address}",
        f"--secure-port={at.apiserver_port}",
        f"--cert-dir={at.workdir / 'apiserver-certs'}",
        f"--tls-cert-file={at.pki / 'apiserver.crt'}",
        f"--tls-private-key-file={at.pki / 'apiserver.key'}",
        f"--client-ca-file={at.pki / 'ca.crt'}",
        f"--service-account-issuer={issuer}",
        f"--service-account-key-file={at.pki / 'sa.pub'}",
        f"--service-account-signing-key-file={at.pki / 'sa.key'}",
        f"--service-cluster-ip-range={at.service_cidr}",
        "--allow-privileged=true",
        "--profiling=false",
        *extra,
    ]


def kube_controller_manager(bins: Binaries, at: ControlPlaneLayout, controllers: str, extra: list[str]) -> list[str]:
    return [
        str(bins.kube_controller_manager),
        f"--kubeconfig={at.kubeconfig}",
        f"--authentication-kubeconfig={at.kubeconfig}",
        f"--authorization-kubeconfig={at.kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={at.controller_manager_port}",
        f"--cert-dir={at.workdir / 'kcm-certs'}",
        "--leader-elect=false",
        f"--controllers={controllers}",
        f"--service-account-private-key-file={at.pki / 'sa.key'}",
        f"--root-ca-file={at.pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={at.pki / 'ca.crt'}",
        f"--cluster-signing-key-file={at.pki / 'ca.key'}",
        f"--service-cluster-ip-range={at.service_cidr}",
        "--profiling=false",
        *extra,
    ]


def kube_scheduler(bins: Binaries, at: ControlPlaneLayout) -> list[str]:
    return [
        str(bins.kube_scheduler),
        f"--kubeconfig={at.kubeconfig}",
        f"--authentication-kubeconfig={at.kubeconfig}",
        f"--authorization-kubeconfig={at.kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={at.scheduler_port}",
        f"--cert-dir={at.workdir / 'scheduler-certs'}",
        "--leader-elect=false",
        "--profiling=false",
    ]
