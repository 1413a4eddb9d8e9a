"""etcd + kube-apiserver + kube-controller-manager on 127.0.0.1: the contract tests' control plane (no node).

The way controller-runtime's envtest runs one, plus a controller-manager so namespaces get their ``default``
ServiceAccount and Deployments get Pods. Nothing schedules or runs Pods; webhooks under test are host
processes registered by URL. Several can run at once (random ports, a temp dir each).
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.e2e.cluster import components
from tests.e2e.cluster.binaries import Binaries, ToolchainMissing, find_binaries
from tests.e2e.cluster.pki import CertificateAuthority, IssuedCert, write_kubeconfig
from tests.e2e.cluster.procs import ClusterError, Processes, free_ports, http_status, insecure_context, tail

#: Set to 1 to keep the control plane's temp dir (certs, logs, etcd data) after stop().
KEEP_ENV = "DOWNWARD_KEEP_CONTROLPLANE"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"


def client_env(kubeconfig: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for kubectl/helm: KUBECONFIG set, proxies off for the loopback address."""
    out = dict(os.environ if base is None else base)
    out["KUBECONFIG"] = str(kubeconfig)
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        out.pop(var, None)
    out["NO_PROXY"] = out["no_proxy"] = "127.0.0.1,localhost"
    return out


class AdminAPI:
    """Raw API calls as the admin (system:masters), stdlib only."""

    def __init__(self, server_url: str, ca_cert: Path, admin: IssuedCert) -> None:
        self.server_url = server_url
        context = ssl.create_default_context(cafile=str(ca_cert))
        context.load_cert_chain(str(admin.cert_path), str(admin.key_path))
        self.ssl_context = context
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, timeout: float = 30.0
    ) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body or None); non-2xx statuses are returned, not raised."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, (json.loads(raw) if raw else None)
        except ValueError:
            return status, raw.decode(errors="replace")

    def wait_for_default_serviceaccount(self, namespace: str = "default", timeout: float = 60.0) -> None:
        """Block until ServiceAccount ``default`` exists in ``namespace`` (the controller-manager makes it)."""
        deadline = time.monotonic() + timeout
        status = 0
        while time.monotonic() < deadline:
            status, _ = self.request("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
            if status == 200:
                return
            time.sleep(0.2)
        raise ClusterError(f"ServiceAccount {namespace}/default did not appear within {timeout:.0f}s (HTTP {status})")


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on 127.0.0.1, in a temp dir of its own.

    If ``start()`` fails half-way, everything already started is stopped and the temp dir removed before
    the error propagates; ``stop()`` may be called any number of times (also registered with ``atexit``).
    """

    def __init__(
        self,
        binaries: Binaries | None = None,
        *,
        startup_timeout: float = 120.0,
        extra_apiserver_args: Sequence[str] = (),
        extra_controller_manager_args: Sequence[str] = (),
        controllers: str = "*",
        tmp_parent: Path | None = None,
    ) -> None:
        self._binaries = binaries
        self.startup_timeout = startup_timeout
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.extra_controller_manager_args = list(extra_controller_manager_args)
        self.controllers = controllers
        self._tmp_parent = tmp_parent
        self._workdir: Path | None = None
        self._procs: Processes | None = None
        self._ca: CertificateAuthority | None = None
        self._api: AdminAPI | None = None
        self.apiserver_port = self.etcd_port = 0

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def binaries(self) -> Binaries:
        if self._binaries is None:
            self._binaries = find_binaries()
        return self._binaries

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise ClusterError("control plane not started")
        return self._workdir

    @property
    def pki_dir(self) -> Path:
        return self.workdir / "pki"

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def ca_cert_path(self) -> Path:
        return self.pki_dir / "ca.crt"

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert_path.read_bytes()

    @property
    def ca_bundle_b64(self) -> str:
        """The CA as a webhook ``clientConfig.caBundle`` value (base64 of the PEM)."""
        return base64.b64encode(self.ca_pem).decode()

    @property
    def admin_cert_path(self) -> Path:
        return self.pki_dir / "admin.crt"

    @property
    def admin_key_path(self) -> Path:
        return self.pki_dir / "admin.key"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for subprocesses (helm, ...) pointing KUBECONFIG at the admin config."""
        return client_env(self.kubeconfig_path, base)

    def logs_tail(self, name: str, lines: int = 40) -> str:
        """Last ``lines`` lines of a component's log (``etcd``, ``kube-apiserver``, ...)."""
        return tail(self.workdir / "logs" / f"{name}.log", lines)

    def start(self) -> ControlPlane:
        if self._procs is not None:
            raise ClusterError("control plane already started")
        bins = self.binaries
        if bins.missing():
            raise ToolchainMissing(f"{bins.bin_dir} lacks {bins.missing()}: run tools/kube/build.sh")
        self._workdir = Path(tempfile.mkdtemp(prefix="downward-cp-", dir=self._tmp_parent))
        atexit.register(self.stop)
        try:
            self._start(bins)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, bins: Binaries) -> None:
        deadline = time.monotonic() + self.startup_timeout
        ca = self._ca = CertificateAuthority(self.pki_dir, "downward-e2e-ca")
        ca.issue(
            "kube-apiserver",
            dns_names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"],
            ip_addresses=["127.0.0.1", "::1", KUBERNETES_SERVICE_IP],
            server=True,
            stem="apiserver",
        )  # fmt: skip
        admin = ca.issue("downward-e2e-admin", organizations=["system:masters"], client=True, stem="admin")
        ca.service_account_keys()
        self.etcd_port, peer, self.apiserver_port, kcm_port = free_ports(4)
        write_kubeconfig(self.kubeconfig_path, server=self.server_url, ca=ca, user=admin, name="downward-e2e")
        at = components.ControlPlaneLayout(
            workdir=self.workdir, pki=self.pki_dir, bind_address="127.0.0.1", advertise_address="127.0.0.1",
            etcd_port=self.etcd_port, etcd_peer_port=peer, apiserver_port=self.apiserver_port,
            controller_manager_port=kcm_port, scheduler_port=0, service_cidr=SERVICE_CLUSTER_IP_RANGE,
            kubeconfig=self.kubeconfig_path,
        )  # fmt: skip
        procs = self._procs = Processes(self.workdir / "logs", self.workdir, self.env())
        self._api = AdminAPI(self.server_url, self.ca_cert_path, admin)

        etcd = procs.spawn("etcd", components.etcd(bins, at))
        procs.wait_until(etcd, lambda: http_status(f"{self.etcd_url}/health", None), deadline, "/health")
        apiserver = procs.spawn(
            "kube-apiserver",
            components.kube_apiserver(
                bins, at, issuer=f"{self.server_url}/",
                extra=[
                    # k8s >= 1.37 refuses a loopback advertise address with the default (lease) endpoint
                    # reconciler; the `kubernetes` Service then has no endpoints, which nothing here needs.
                    "--endpoint-reconciler-type=none",
                    "--authorization-mode=RBAC",
                    f"--enable-admission-plugins={components.ADMISSION_PLUGINS}",
                    *self.extra_apiserver_args,
                ],
            ),
        )  # fmt: skip
        ctx = self._api.ssl_context
        procs.wait_until(apiserver, lambda: http_status(f"{self.server_url}/readyz", ctx), deadline, "/readyz")
        kcm = procs.spawn(
            "kube-controller-manager",
            components.kube_controller_manager(bins, at, self.controllers, self.extra_controller_manager_args),
        )
        kcm_health = f"https://127.0.0.1:{kcm_port}/healthz"  # self-signed serving cert in --cert-dir
        procs.wait_until(kcm, lambda: http_status(kcm_health, insecure_context()), deadline, "/healthz")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM each process group (newest first), SIGKILL after ``grace`` s; rm the temp dir."""
        atexit.unregister(self.stop)
        if self._procs is not None:
            self._procs.stop(grace)
            self._procs = None
        if self._workdir is not None:
            if os.environ.get(KEEP_ENV) == "1":
                print(f"[controlplane] kept {self._workdir}", file=sys.stderr)
            else:
                shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def issue_cert(
        self,
        common_name: str,
        *,
        dns_names: Sequence[str] = ("localhost",),
        ip_addresses: Sequence[str] = ("127.0.0.1",),
        organizations: Sequence[str] = (),
        server: bool = True,
        client: bool = False,
        directory: Path | None = None,
    ) -> IssuedCert:
        """A cert signed by this control plane's CA (e.g. a webhook's serving cert: ``ca_pem`` is its caBundle)."""
        if self._ca is None:
            raise ClusterError("control plane not started")
        return self._ca.issue(
            common_name, organizations=organizations, dns_names=dns_names, ip_addresses=ip_addresses,
            server=server, client=client, directory=directory,
        )  # fmt: skip

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, timeout: float = 30.0
    ) -> tuple[int, Any]:
        """One API call as the admin; (status, decoded body). Non-2xx statuses are returned, not raised."""
        if self._api is None:
            raise ClusterError("control plane not started")
        return self._api.request(method, path, body, timeout=timeout)

    def wait_for_default_serviceaccount(self, namespace: str = "default", timeout: float = 60.0) -> None:
        if self._api is None:
            raise ClusterError("control plane not started")
        try:
            self._api.wait_for_default_serviceaccount(namespace, timeout)
        except ClusterError as exc:
            raise ClusterError(
                f"{exc}\n--- kube-controller-manager log ---\n{self.logs_tail('kube-controller-manager')}"
            ) from None
