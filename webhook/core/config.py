"""What the core decides with: the operator's choices, frozen (loaded from YAML by webhook/config.py).

Everything that decides images, ports, privileges and resources lives here, out of reach of app teams'
annotations. The server's own limits (timeouts, body size) are not here: the core never reads them
(webhook/serving/settings.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .catalog import ENV_BY_NAME, ENV_CATALOG, SEED_ENV, EnvField

DEFAULT_PREFIX = "downward.dev/"
# registry.k8s.io/kubectl is built and signed by SIG Release for every Kubernetes release (since 1.28), for
# amd64/arm64/s390x/ppc64le; the seed's luksa/kubectl-proxy:1.6.2 ships a 2017 kubectl and is unmaintained.
DEFAULT_AMBASSADOR_IMAGE = "registry.k8s.io/kubectl:v1.37.2"
DEFAULT_MOUNT_PATH = "/etc/downward"
DEFAULT_REQUESTS = (("cpu", "10m"), ("memory", "32Mi"))
DEFAULT_LIMITS = (("cpu", "200m"), ("memory", "64Mi"))


@dataclass(frozen=True, slots=True)
class AmbassadorConfig:
    """The kubectl-proxy ambassador as the operator allows and shapes it."""

    allowed: bool = True
    disabled_namespaces: frozenset[str] = frozenset()
    image: str = DEFAULT_AMBASSADOR_IMAGE
    image_pull_policy: str = "IfNotPresent"
    port: int = 8001
    mode: Literal["native", "container"] = "native"
    requests: tuple[tuple[str, str], ...] = DEFAULT_REQUESTS
    limits: tuple[tuple[str, str], ...] = DEFAULT_LIMITS
    run_as_user: int = 65532
    name: str = "downward-ambassador"


@dataclass(frozen=True, slots=True)
class Config:
    """The annotation prefix, the defaults an annotation may override, the ambassador, the operator's own env
    catalog entries (checked at start by webhook/config.py: names unique, none a built-in's) and the namespaces
    where the namespace-wide path turns downward.dev/otel on by default."""

    prefix: str = DEFAULT_PREFIX
    default_env: tuple[str, ...] = SEED_ENV
    default_volume: bool = True
    default_mount_path: str = DEFAULT_MOUNT_PATH
    ambassador: AmbassadorConfig = field(default_factory=AmbassadorConfig)
    extra_env: tuple[EnvField, ...] = ()
    otel_namespaces: frozenset[str] = frozenset()

    @property
    def env_catalog(self) -> tuple[EnvField, ...]:
        """The built-in entries, then the operator's (what "all" means)."""
        return (*ENV_CATALOG, *self.extra_env)

    def env_field(self, name: str) -> EnvField | None:
        found = ENV_BY_NAME.get(name)
        if found is not None or not self.extra_env:
            return found
        return next((f for f in self.extra_env if f.name == name), None)
