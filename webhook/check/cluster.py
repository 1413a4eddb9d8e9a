"""The cluster's API for `check`: kubeconfig and credentials through lightkube, plain JSON calls on its HTTP client.

lightkube reads the kubeconfig the way kubectl does (client certificates, tokens, exec plugins, in-cluster
ServiceAccount) and hands out an httpx client; the calls themselves are plain JSON so that every object stays a
dict for the pure verdicts, and the `Warning` headers of a dry-run are kept.

Errors (all CheckError, exit status 2): NoKubeconfig, Unreachable, Unauthorized, Forbidden (names the RBAC verb and
resource needed), NotFound.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import yaml
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core.exceptions import ConfigError

from .kubeconfig import merge

IN_CLUSTER = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
# RFC 7234 warn-code 299, agent "-", quoted text: how the apiserver sends admission warnings.
_WARNING = re.compile(r'299 - "((?:[^"\\]|\\.)*)"')
# kind -> (API path prefix, resource): the controllers a pod's owner chain can pass through.
OWNER_PATHS = {
    "ReplicaSet": ("/apis/apps/v1", "replicasets"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
    "DaemonSet": ("/apis/apps/v1", "daemonsets"),
    "Job": ("/apis/batch/v1", "jobs"),
    "CronJob": ("/apis/batch/v1", "cronjobs"),
}


class CheckError(Exception):
    """Anything that stops the check before a verdict: exit status 2, the message for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(CheckError):
    def __init__(self, verb: str, resource: str, scope: str) -> None:
        super().__init__(f"forbidden: needs '{verb}' on '{resource}' ({scope})")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    warnings: tuple[str, ...]


def load_kubeconfig(path: str | None, context: str | None) -> tuple[Any, str]:
    """The kubeconfig as kubectl finds it: --kubeconfig, the files of $KUBECONFIG (merged like kubectl does),
    ~/.kube/config, then the pod's ServiceAccount. Returns lightkube's config and the context's namespace."""
    candidates = [path] if path else [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if not candidates:
        candidates = [str(Path.home() / ".kube" / "config")]
    existing = [p for p in candidates if Path(p).is_file()]
    try:
        if existing:
            single = KubeConfig.from_dict(merge([(p, _read(p)) for p in existing])).get(context)
        elif path is None and (IN_CLUSTER / "token").is_file() and "KUBERNETES_SERVICE_HOST" in os.environ:
            single = KubeConfig.from_service_account().get(context)
        else:
            raise CheckError(
                f"no kubeconfig: {', '.join(candidates)} not found and not running in a pod; "
                "pass --kubeconfig or set KUBECONFIG"
            )
    except ConfigError as error:
        raise CheckError(f"kubeconfig: {error}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckError(f"kubeconfig {', '.join(existing) or IN_CLUSTER}: cannot be used: {error}") from None
    if single is None:
        raise CheckError("kubeconfig: no current-context; pass --context")
    return single, str(single.namespace or "default")


def _read(path: str) -> Any:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CheckError(f"kubeconfig {path}: cannot be read: {error}") from None
    if document is not None and not isinstance(document, dict):
        raise CheckError(f"kubeconfig {path}: not a kubeconfig (a mapping with clusters, users, contexts)")
    return document


class Cluster:
    def __init__(self, single: Any) -> None:
        self.server = str(single.cluster.server)
        try:
            self._client = client_adapter.Client(single, client_adapter.ConnectionParams(timeout=httpx2.Timeout(15)))
        except (ConfigError, OSError, ssl.SSLError, AssertionError) as error:
            raise CheckError(f"kubeconfig: cannot use its credentials: {error}") from None

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: str,
        scope: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        forbidden_is_answer: bool = False,
    ) -> Reply:
        try:
            response = self._client.request(
                method, path, json=body, params=params, headers={"Accept": "application/json"}
            )
        except httpx2.TransportError as error:
            raise CheckError(f"cannot reach the cluster at {self.server}: {error or type(error).__name__}") from None
        except ConfigError as error:  # an exec plugin that failed
            raise CheckError(f"kubeconfig: cannot get credentials: {error}") from None
        try:
            decoded = response.json()
        except ValueError:
            decoded = response.text
        if response.status_code == 401:
            raise CheckError(f"unauthorized: {self.server} refused the kubeconfig's credentials")
        if response.status_code == 403 and not (forbidden_is_answer and _admission_denial(decoded)):
            raise Forbidden(verb, resource, scope)
        warnings = tuple(
            match.group(1).replace('\\"', '"').replace("\\\\", "\\")
            for header in response.headers.get_list("warning")
            for match in _WARNING.finditer(header)
        )
        return Reply(response.status_code, decoded, warnings)

    def get(self, path: str, *, resource: str, scope: str, missing_ok: bool = False) -> Any:
        reply = self.call("GET", path, verb="get", resource=resource, scope=scope)
        if reply.status == 404 and missing_ok:
            return None
        return _ok(reply, path)

    def list_all(
        self, path: str, *, resource: str, scope: str, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params = {"limit": "500", **(params or {})}
        while True:
            reply = self.call("GET", path, verb="list", resource=resource, scope=scope, params=params)
            body = _ok(reply, path)
            items += body.get("items") or []
            more = (body.get("metadata") or {}).get("continue")
            if not more:
                return items
            params["continue"] = more

    # --- what `check` reads ----------------------------------------------------------------------------------

    def configurations(self) -> list[dict[str, Any]]:
        return self.list_all(MWC, resource="mutatingwebhookconfigurations", scope="cluster")

    def namespace(self, name: str) -> dict[str, Any]:
        found = self.get(f"/api/v1/namespaces/{name}", resource="namespaces", scope="cluster", missing_ok=True)
        if found is None:
            raise CheckError(f"namespace {name} not found")
        return dict(found)

    def namespaces(self) -> list[dict[str, Any]]:
        return self.list_all("/api/v1/namespaces", resource="namespaces", scope="cluster")

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        path = f"/api/v1/namespaces/{namespace}/pods/{name}"
        found = self.get(path, resource="pods", scope=f"namespace {namespace}", missing_ok=True)
        if found is None:
            raise CheckError(f"pod {name} not found in namespace {namespace}")
        return dict(found)

    def pods(self, namespace: str | None) -> list[dict[str, Any]]:
        if namespace is None:
            return self.list_all("/api/v1/pods", resource="pods", scope="all namespaces")
        return self.list_all(f"/api/v1/namespaces/{namespace}/pods", resource="pods", scope=f"namespace {namespace}")

    def owner(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        """A controller of a pod (or of its controller); None for a kind outside OWNER_PATHS or a deleted one."""
        if kind not in OWNER_PATHS:
            return None
        base, resource = OWNER_PATHS[kind]
        path = f"{base}/namespaces/{namespace}/{resource}/{name}"
        found = self.get(path, resource=resource, scope=f"namespace {namespace}", missing_ok=True)
        return dict(found) if found is not None else None

    def owners(self, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The controller chain above `obj`, nearest first (a pod's ReplicaSet, then its Deployment)."""
        chain: list[dict[str, Any]] = []
        current: Mapping[str, Any] = obj
        namespace = str((obj.get("metadata") or {}).get("namespace", ""))
        for _ in range(4):
            reference = next(
                (r for r in (current.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")),
                None,
            )
            found = self.owner(namespace, str(reference.get("kind")), str(reference.get("name"))) if reference else None
            if found is None:
                return chain
            chain.append(found)
            current = found
        return chain

    def dry_run_pod(self, namespace: str, pod: Mapping[str, Any]) -> Reply:
        """A server-side dry-run create: every admission plugin and webhook runs, nothing is stored."""
        return self.call(
            "POST",
            f"/api/v1/namespaces/{namespace}/pods",
            verb="create",
            resource="pods",
            scope=f"namespace {namespace}",
            body=pod,
            params={"dryRun": "All"},
            forbidden_is_answer=True,
        )

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        path = f"/api/v1/namespaces/{namespace}/services/{name}"
        found = self.get(path, resource="services", scope=f"namespace {namespace}", missing_ok=True)
        return dict(found) if found is not None else None

    def ready_endpoints(self, namespace: str, service: str) -> int:
        """How many ready endpoints the Service has (its EndpointSlices)."""
        slices = self.list_all(
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
            resource="endpointslices",
            scope=f"namespace {namespace}",
            params={"labelSelector": f"kubernetes.io/service-name={service}"},
        )
        return sum(
            1
            for piece in slices
            for endpoint in piece.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready") is not False
        )

    def deployments(self, namespace: str) -> list[dict[str, Any]]:
        return self.list_all(
            f"/apis/apps/v1/namespaces/{namespace}/deployments", resource="deployments", scope=f"namespace {namespace}"
        )


def _ok(reply: Reply, path: str) -> Any:
    if reply.status != 200 or not isinstance(reply.body, dict):
        message = reply.body.get("message") if isinstance(reply.body, dict) else str(reply.body)[:200]
        raise CheckError(f"GET {path}: {reply.status} {message}")
    return reply.body


def _admission_denial(body: Any) -> bool:
    """A 403 from admission (a webhook's denial, PodSecurity) rather than from RBAC: RBAC's message says 'cannot'."""
    message = body.get("message", "") if isinstance(body, dict) else ""
    return "cannot create resource" not in str(message)


def probe_tls(host: str, port: int, server_name: str, ca_bundle_pem: bytes) -> tuple[bool | None, str]:
    """Whether the caBundle verifies the certificate served at host:port for server_name: True/False, or None
    when it could not be tried (not reachable from here)."""
    try:
        context = ssl.create_default_context(cadata=ca_bundle_pem.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError) as error:
        return False, f"the caBundle is not a usable PEM CA: {error}"
    try:
        with socket.create_connection((host, port), timeout=3) as raw:
            try:
                with context.wrap_socket(raw, server_hostname=server_name):
                    return True, f"the caBundle verifies the certificate served at {host}:{port} for {server_name}"
            except ssl.SSLCertVerificationError as error:
                return False, (
                    f"the caBundle does NOT verify the certificate served at {host}:{port} for {server_name}: "
                    f"{error.verify_message}"
                )
            except ssl.SSLError as error:
                return False, f"TLS handshake with {host}:{port} failed: {error.reason or error}"
    except OSError as error:
        return None, f"not reachable from here ({host}:{port}: {error.strerror or error})"


def url_target(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 443, parts.hostname or ""
