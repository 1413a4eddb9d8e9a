"""The webhook itself, as installed: each configuration's entries and failurePolicy, whether its caBundle verifies
the certificate the webhook serves (when reachable from here), and its Deployment's ready replicas."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .cluster import CheckError, Cluster, probe_tls, url_target
from .verdicts import POD_ENTRIES


@dataclass
class ConfigurationHealth:
    name: str
    created: str
    entries: list[tuple[str, str]]  # (entry name, failurePolicy)
    target: str  # "service NS/NAME:PORT" or the URL
    tls_verified: bool | None = None  # None: not tried (not reachable from here, no caBundle, not allowed)
    tls: str = ""
    replicas: list[tuple[str, int, int]] = field(default_factory=list)  # (NS/deployment, ready, desired)
    replicas_note: str = ""

    @property
    def problems(self) -> list[str]:
        found = []
        if self.tls_verified is False:
            found.append(self.tls)
        found += [f"deployment {name} has no ready replica" for name, ready, _ in self.replicas if ready == 0]
        return found


def ours(configurations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in configurations if any(w.get("name") in POD_ENTRIES for w in c.get("webhooks") or [])]


def health(cluster: Cluster, configuration: Mapping[str, Any]) -> ConfigurationHealth:
    metadata = configuration.get("metadata") or {}
    webhooks = configuration.get("webhooks") or []
    entries = [(str(w.get("name")), str(w.get("failurePolicy", "Fail"))) for w in webhooks]
    pod_entry = next(w for w in webhooks if w.get("name") in POD_ENTRIES)
    client = pod_entry.get("clientConfig") or {}
    try:
        ca = base64.b64decode(client.get("caBundle") or "", validate=True)
    except (binascii.Error, ValueError):
        ca = b"-"
    result = ConfigurationHealth(str(metadata.get("name", "")), str(metadata.get("creationTimestamp", "")), entries, "")
    service = client.get("service")
    if isinstance(service, dict):
        ns, name, port = str(service.get("namespace")), str(service.get("name")), int(service.get("port") or 443)
        result.target = f"service {ns}/{name}:{port}"
        try:
            _service_health(cluster, result, (ns, name, port), ca)
        except CheckError as error:  # forbidden: the status is partial, the verdicts still stand
            result.tls = result.tls or f"not checked ({error.message})"
            result.replicas_note = result.replicas_note or f"not checked ({error.message})"
    else:
        url = str(client.get("url", ""))
        result.target = url
        host, port, server_name = url_target(url)
        result.tls_verified, result.tls = _probe(host, port, server_name, ca)
        result.replicas_note = "a URL webhook: no Deployment to look at"
    return result


def _probe(host: str, port: int, server_name: str, ca: bytes) -> tuple[bool | None, str]:
    if not ca:
        return None, "no caBundle (with cert-manager, its cainjector fills it in)"
    if ca == b"-":
        return False, "the caBundle is not valid base64"
    return probe_tls(host, port, server_name, ca)


def _service_health(cluster: Cluster, result: ConfigurationHealth, service: tuple[str, str, int], ca: bytes) -> None:
    ns, name, port = service
    found = cluster.service(ns, name)
    if found is None:
        result.tls_verified, result.tls = False, f"the Service {ns}/{name} does not exist"
        return
    spec = found.get("spec") or {}
    cluster_ip = str(spec.get("clusterIP") or "")
    if not cluster.ready_endpoints(ns, name):  # and an address of 10.x.x.x:443 may be anything from out here
        result.tls = "not checked: no ready endpoint behind the Service (the apiserver cannot call it either)"
    elif cluster_ip and cluster_ip != "None":
        result.tls_verified, result.tls = _probe(cluster_ip, port, f"{name}.{ns}.svc", ca)
    else:
        result.tls = "not checked: the Service has no ClusterIP"
    selector = spec.get("selector") or {}
    for deployment in cluster.deployments(ns):
        labels = ((deployment.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            status = deployment.get("status") or {}
            desired = int((deployment.get("spec") or {}).get("replicas", 1))
            result.replicas.append(
                (f"{ns}/{deployment['metadata']['name']}", int(status.get("readyReplicas", 0)), desired)
            )
    if not result.replicas:
        result.replicas_note = f"no Deployment in {ns} matches the Service's selector"
