"""A real Kubernetes control plane for the e2e tests.

Runs etcd, kube-apiserver and kube-controller-manager (built from Go modules by
``tools/kube/build.sh``; see ``docs/e2e.md``) as local processes on 127.0.0.1 with
freshly generated certificates, the way controller-runtime's envtest does, plus a
controller-manager so namespaces get their ``default`` ServiceAccount and Deployments
get Pods. Nothing schedules or runs Pods (there is no kubelet).

Typical use::

    from tests.e2e.controlplane import ControlPlane, find_binaries, ToolchainMissing

    with ControlPlane(find_binaries()) as cp:
        cp.wait_for_default_serviceaccount("default")
        subprocess.run([str(cp.binaries.helm), "list", "-A"], env=cp.env(), check=True)

Only the standard library, ``cryptography`` and ``pyyaml`` are used.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "BUILD_SCRIPT",
    "REPO_ROOT",
    "Binaries",
    "ControlPlane",
    "ControlPlaneError",
    "IssuedCert",
    "ToolchainMissing",
    "bin_dir_hint",
    "find_binaries",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "kube" / "build.sh"
#: Set to a directory holding the four binaries to skip build.sh entirely.
BIN_DIR_ENV = "DOWNWARD_KUBE_BIN_DIR"
#: Set to 1 to keep the control plane's temp dir (certs, logs, etcd data) after stop().
KEEP_ENV = "DOWNWARD_KEEP_CONTROLPLANE"

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"
_BINARY_NAMES = ("kube-apiserver", "kube-controller-manager", "etcd", "kubectl", "helm")


class ToolchainMissing(RuntimeError):
    """The binaries are not built and cannot be built here (no ``go``).

    ``str(exc)`` is a single line meant for ``pytest.skip``.
    """


class ControlPlaneError(RuntimeError):
    """A control plane process failed to start or to become ready."""


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class Binaries:
    """Paths of the binaries built by ``tools/kube/build.sh``."""

    bin_dir: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    etcd: Path
    kubectl: Path
    helm: Path

    @classmethod
    def from_dir(cls, bin_dir: Path) -> Binaries:
        return cls(
            bin_dir=bin_dir,
            kube_apiserver=bin_dir / "kube-apiserver",
            kube_controller_manager=bin_dir / "kube-controller-manager",
            etcd=bin_dir / "etcd",
            kubectl=bin_dir / "kubectl",
            helm=bin_dir / "helm",
        )

    def missing(self) -> list[str]:
        return [n for n in _BINARY_NAMES if not os.access(self.bin_dir / n, os.X_OK)]


def bin_dir_hint() -> Path:
    """The bin dir ``build.sh`` would use (``build.sh --print-dir``); builds nothing."""
    env_dir = os.environ.get(BIN_DIR_ENV)
    if env_dir:
        return Path(env_dir)
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--print-dir"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(out.strip().splitlines()[-1])


def find_binaries(build: bool = True, build_timeout: float = 3600.0) -> Binaries:
    """Locate (and, when ``build`` and ``go`` is on PATH, build) the binaries.

    Order: ``$DOWNWARD_KUBE_BIN_DIR`` if set; else the cache dir of ``build.sh``,
    running ``build.sh`` when that dir is incomplete. The build's progress goes to
    this process's stderr. Raises :class:`ToolchainMissing` (one-line message) when
    the binaries are absent and cannot be built, :class:`ControlPlaneError` when a
    build with ``go`` present fails.
    """
    env_dir = os.environ.get(BIN_DIR_ENV)
    if env_dir:
        bins = Binaries.from_dir(Path(env_dir))
        if bins.missing():
            raise ToolchainMissing(
                f"${BIN_DIR_ENV}={env_dir} lacks {', '.join(bins.missing())}: unset it or run tools/kube/build.sh"
            )
        return bins

    if shutil.which("bash") is None:
        raise ToolchainMissing("bash not found: tools/kube/build.sh needs bash and Go >= 1.26")
    bins = Binaries.from_dir(bin_dir_hint())
    if not bins.missing():
        return bins
    if not build:
        raise ToolchainMissing(f"control plane binaries not built ({bins.bin_dir}): run tools/kube/build.sh")
    if shutil.which("go") is None:
        raise ToolchainMissing(
            "go not found: install Go >= 1.26 and run tools/kube/build.sh "
            "(builds kube-apiserver, etcd, kube-controller-manager, kubectl, helm)"
        )
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        check=False,
        stdout=subprocess.PIPE,
        stderr=None,  # progress straight to our stderr
        text=True,
        timeout=build_timeout,
    )
    if proc.returncode == 3:  # build.sh: go missing
        raise ToolchainMissing("go not found: install Go >= 1.26 and run tools/kube/build.sh")
    if proc.returncode != 0:
        raise ControlPlaneError(f"tools/kube/build.sh failed with exit code {proc.returncode}")
    bins = Binaries.from_dir(Path(proc.stdout.strip().splitlines()[-1]))
    if bins.missing():
        raise ControlPlaneError(f"build.sh finished but {bins.bin_dir} lacks {bins.missing()}")
    return bins


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class IssuedCert:
    """A certificate + key written as PEM files (signed by the control plane's CA)."""

    cert_path: Path
    key_path: Path
    cert_pem: bytes
    key_pem: bytes


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signing only; a CA also signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


# --------------------------------------------------------------------------- processes


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together while picked)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _pdeathsig_prefix() -> list[str]:
    """``setpriv --pdeathsig KILL --`` (util-linux, Linux): the child gets SIGKILL if the
    process that started it dies, even by SIGKILL, so no etcd/apiserver is orphaned.
    (A ``preexec_fn`` would do the same but is unsafe when the test process has threads.)"""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if sys.platform == "linux" and setpriv else []


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path


# klog error/fatal lines (E1125 ..., F1125 ...), cobra's "Error: ...", etcd's JSON levels.
_ERROR_LINE = re.compile(r'^(Error:|[EF]\d{4} )|"level":"(error|fatal|panic)"|^panic:')


def _tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log, preceded by its first few error lines (a bad
    flag prints ``Error: ...`` and then pages of usage, which would hide it)."""
    try:
        data = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no log: {exc})"
    tail = data[-lines:]
    errors = [ln for ln in data[: len(data) - len(tail)] if _ERROR_LINE.search(ln)][:8]
    head = ["(first error lines)", *errors, "(last lines)"] if errors else []
    return "\n".join(head + tail)


# --------------------------------------------------------------------------- control plane


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on 127.0.0.1.

    If ``start()`` fails half-way, everything already started is stopped and the temp
    dir removed before the error propagates; ``stop()`` may be called any number of
    times (it is also registered with ``atexit`` while running). Each process runs in
    its own process group under ``setpriv --pdeathsig KILL``, logs to
    ``<workdir>/logs/<name>.log``.
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
        self._procs: list[_Proc] = []
        self._ssl: ssl.SSLContext | None = None
        self._ca_key: ec.EllipticCurvePrivateKey | None = None
        self._ca_cert: x509.Certificate | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.apiserver_port = 0
        self.etcd_port = 0
        self.controller_manager_port = 0

    # ---- context manager
    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- properties
    @property
    def binaries(self) -> Binaries:
        if self._binaries is None:
            self._binaries = find_binaries()
        return self._binaries

    @property
    def running(self) -> bool:
        return bool(self._procs) and all(p.popen.poll() is None for p in self._procs)

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise ControlPlaneError("control plane not started")
        return self._workdir

    @property
    def pki_dir(self) -> Path:
        return self.workdir / "pki"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

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
    def ca_key_path(self) -> Path:
        return self.pki_dir / "ca.key"

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

    @property
    def log_paths(self) -> dict[str, Path]:
        return {p.name: p.log_path for p in self._procs}

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for subprocesses (helm, ...) pointing KUBECONFIG at the admin config."""
        out = dict(os.environ if base is None else base)
        out["KUBECONFIG"] = str(self.kubeconfig_path)
        for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            out.pop(var, None)
        out["NO_PROXY"] = out["no_proxy"] = "127.0.0.1,localhost"
        return out

    def logs_tail(self, name: str, lines: int = 40) -> str:
        """Last ``lines`` lines of a component's log (``etcd``, ``kube-apiserver``, ...)."""
        return _tail(self.logs_dir / f"{name}.log", lines)

    # ---- lifecycle
    def start(self) -> ControlPlane:
        if self._procs:
            raise ControlPlaneError("control plane already started")
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
        self.pki_dir.mkdir()
        self.logs_dir.mkdir()
        self._write_pki()
        (
            self.etcd_port,
            etcd_peer_port,
            self.apiserver_port,
            self.controller_manager_port,
        ) = _free_ports(4)
        self._write_kubeconfig()

        etcd_peer = f"http://127.0.0.1:{etcd_peer_port}"
        self._spawn(
            "etcd",
            [
                str(bins.etcd),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={etcd_peer}",
                f"--initial-advertise-peer-urls={etcd_peer}",
                f"--initial-cluster=default={etcd_peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait_http("etcd", f"{self.etcd_url}/health", deadline, tls=False)

        pki = self.pki_dir
        self._spawn(
            "kube-apiserver",
            [
                str(bins.kube_apiserver),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # k8s >= 1.37 refuses a loopback advertise address with the default
                # (lease) endpoint reconciler; the `kubernetes` Service then has no
                # endpoints, which nothing here needs.
                "--endpoint-reconciler-type=none",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={self.ca_cert_path}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self.server_url}/",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                # Default-on already; listed so nobody turns them off by accident.
                "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,"
                "PodSecurity,MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
                "--profiling=false",
                *self.extra_apiserver_args,
            ],
        )
        self._wait_http("kube-apiserver", f"{self.server_url}/readyz", deadline, tls=True)

        self._spawn(
            "kube-controller-manager",
            [
                str(bins.kube_controller_manager),
                f"--kubeconfig={self.kubeconfig_path}",
                f"--authentication-kubeconfig={self.kubeconfig_path}",
                f"--authorization-kubeconfig={self.kubeconfig_path}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.controller_manager_port}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                "--leader-elect=false",
                f"--controllers={self.controllers}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={self.ca_cert_path}",
                f"--cluster-signing-cert-file={self.ca_cert_path}",
                f"--cluster-signing-key-file={self.ca_key_path}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--profiling=false",
                *self.extra_controller_manager_args,
            ],
        )
        self._wait_http(
            "kube-controller-manager",
            f"https://127.0.0.1:{self.controller_manager_port}/healthz",
            deadline,
            tls=True,
            verify=False,  # self-signed serving cert in --cert-dir
        )

    def _keep_hint(self) -> str:
        return "" if os.environ.get(KEEP_ENV) == "1" else f" (set {KEEP_ENV}=1 to keep the temp dir)"

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM each process group (newest first), SIGKILL after ``grace`` s; rm temp dir."""
        atexit.unregister(self.stop)
        procs, self._procs = self._procs, []
        for p in reversed(procs):
            self._terminate(p, grace)
        if self._workdir is not None:
            if os.environ.get(KEEP_ENV) == "1":
                print(f"[controlplane] kept {self._workdir}", file=sys.stderr)
            else:
                shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._ssl = None

    @staticmethod
    def _terminate(p: _Proc, grace: float) -> None:
        pgid = p.popen.pid  # start_new_session=True: pid == pgid
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            try:
                p.popen.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # The leader is gone; make sure nothing else of its group is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log_path = self.logs_dir / f"{name}.log"
        with log_path.open("ab") as log:
            log.write(("$ " + " ".join(argv) + "\n").encode())
            log.flush()
            popen = subprocess.Popen(
                [*_pdeathsig_prefix(), *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # own process group: killpg reaches all of it
                env=self.env(),
            )
        self._procs.append(_Proc(name, popen, log_path))

    def _wait_http(self, name: str, url: str, deadline: float, *, tls: bool, verify: bool = True) -> None:
        proc = next(p for p in self._procs if p.name == name)
        last = "no response yet"
        while True:
            code = proc.popen.poll()
            if code is not None:
                raise ControlPlaneError(
                    f"{name} exited with code {code} during startup{self._keep_hint()}\n"
                    f"--- tail of {proc.log_path} ---\n{_tail(proc.log_path)}"
                )
            try:
                ctx = (self._ssl_context() if verify else self._insecure_context()) if tls else None
                req = urllib.request.Request(url)
                if ctx is not None:
                    handler = urllib.request.HTTPSHandler(context=ctx)
                    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), handler)
                else:
                    opener = self._opener
                with opener.open(req, timeout=5) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                body = exc.read().decode(errors="replace")[-1500:]
                last = f"HTTP {exc.code}: {body}"
            except (OSError, ssl.SSLError) as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"{name} not ready at {url} within {self.startup_timeout:.0f}s "
                    f"(last: {last}){self._keep_hint()}\n--- tail of {proc.log_path} ---\n{_tail(proc.log_path)}"
                )
            time.sleep(0.25)

    # ---- pki / kubeconfig
    def _write_pki(self) -> None:
        pki = self.pki_dir
        ca_key, ca_cert = _make_ca("downward-e2e-ca")
        self._ca_key, self._ca_cert = ca_key, ca_cert
        _write(pki / "ca.crt", _cert_pem(ca_cert))
        _write(pki / "ca.key", _key_pem(ca_key), private=True)

        key, cert = _issue(
            ca_key,
            ca_cert,
            "kube-apiserver",
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ip_addresses=["127.0.0.1", "::1", KUBERNETES_SERVICE_IP],
            server=True,
        )
        _write(pki / "apiserver.crt", _cert_pem(cert))
        _write(pki / "apiserver.key", _key_pem(key), private=True)

        key, cert = _issue(ca_key, ca_cert, "downward-e2e-admin", organizations=["system:masters"], client=True)
        _write(pki / "admin.crt", _cert_pem(cert))
        _write(pki / "admin.key", _key_pem(key), private=True)

        # ServiceAccount token signing key (ES256).
        sa_key = ec.generate_private_key(ec.SECP256R1())
        _write(pki / "sa.key", _key_pem(sa_key), private=True)
        _write(
            pki / "sa.pub",
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )

    def _write_kubeconfig(self) -> None:
        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "downward-e2e",
                    "cluster": {
                        "server": self.server_url,
                        "certificate-authority-data": b64(self.ca_cert_path),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": b64(self.admin_cert_path),
                        "client-key-data": b64(self.admin_key_path),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "downward-e2e",
                    "context": {"cluster": "downward-e2e", "user": "admin", "namespace": "default"},
                }
            ],
            "current-context": "downward-e2e",
        }
        self.kubeconfig_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig_path.chmod(0o600)

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
        """Issue a cert signed by this control plane's CA (e.g. the webhook's serving
        cert: then ``ca_pem`` is the caBundle). Files go to ``directory`` (default pki dir)."""
        if self._ca_key is None or self._ca_cert is None:
            raise ControlPlaneError("control plane not started")
        key, cert = _issue(
            self._ca_key,
            self._ca_cert,
            common_name,
            organizations=organizations,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            server=server,
            client=client,
        )
        out = directory or self.pki_dir
        out.mkdir(parents=True, exist_ok=True)
        stem = common_name.replace("/", "_").replace(":", "_")
        cert_pem, key_pem = _cert_pem(cert), _key_pem(key)
        return IssuedCert(
            cert_path=_write(out / f"{stem}.crt", cert_pem),
            key_path=_write(out / f"{stem}.key", key_pem, private=True),
            cert_pem=cert_pem,
            key_pem=key_pem,
        )

    # ---- raw API access (stdlib only)
    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context(cafile=str(self.ca_cert_path))
            ctx.load_cert_chain(str(self.admin_cert_path), str(self.admin_key_path))
            self._ssl = ctx
        return self._ssl

    @staticmethod
    def _insecure_context() -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        timeout: float = 30.0,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """One API call as the admin (system:masters). Returns (HTTP status, decoded JSON
        body or None); non-2xx statuses are returned, not raised."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=self._ssl_context()),
        )
        try:
            with opener.open(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, (json.loads(raw) if raw else None)
        except ValueError:
            return status, raw.decode(errors="replace")

    def wait_for_default_serviceaccount(self, namespace: str = "default", timeout: float = 60.0) -> None:
        """Block until ServiceAccount ``default`` exists in ``namespace`` (made by the
        controller-manager's serviceaccount controller). Raises ControlPlaneError."""
        deadline = time.monotonic() + timeout
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/default"
        status = 0
        while time.monotonic() < deadline:
            status, _ = self.request("GET", path)
            if status == 200:
                return
            kcm = next((p for p in self._procs if p.name == "kube-controller-manager"), None)
            if kcm is not None and kcm.popen.poll() is not None:
                break
            time.sleep(0.2)
        raise ControlPlaneError(
            f"ServiceAccount {namespace}/default did not appear within {timeout:.0f}s "
            f"(last HTTP {status})\n--- kube-controller-manager log tail ---\n"
            f"{self.logs_tail('kube-controller-manager')}"
        )
