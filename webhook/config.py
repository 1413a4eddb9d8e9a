"""The operator configuration file: YAML read once at start-up, validated by pydantic, then frozen.

The file's schema (the pydantic models below) is the edge; what comes out is plain frozen data: the core's
Config (webhook/core/config.py) and the server's limits (webhook/serving/settings.py). An invalid file stops
the server at start with a message that names the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .core.annotations import ENV_NAME_RE, qualified_name_problem
from .core.catalog import ENV_BY_NAME, ENV_NAMES, SEED_ENV, EnvField
from .core.config import (
    DEFAULT_AMBASSADOR_IMAGE,
    DEFAULT_LIMITS,
    DEFAULT_MOUNT_PATH,
    DEFAULT_PREFIX,
    DEFAULT_REQUESTS,
    AmbassadorConfig,
    Config,
)
from .core.paths import canonical_mount_path, mount_path_problem
from .serving.settings import DEFAULT_MAX_BODY_BYTES, ServerConfig

_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/$")
_QUANTITY_RE = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
# What the apiserver accepts in an env var (pkg/apis/core/validation: validEnvDownwardAPIFieldPathExpressions,
# validContainerResourceFieldPathExpressions, validContainerResourceDivisorForCPU/ForMemory; compared by the
# divisor's canonical string, so "1024" is refused where "1Ki" is accepted).
_ENV_FIELD_PATHS = (
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
)  # fmt: skip
_SUBSCRIPTED = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")
_ENV_RESOURCES = tuple(f"{kind}.{name}" for kind in ("limits", "requests") for name in _RESOURCE_NAMES)
_CPU_DIVISORS = ("1m", "1")
_MEMORY_DIVISORS = ("1", *(f"1{unit}" for unit in ("k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")))


class ConfigError(Exception):
    """The operator configuration is invalid; the message names the key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    """The whole file, frozen: what the core decides with, and what the server runs with."""

    core: Config = field(default_factory=Config)
    server: ServerConfig = field(default_factory=ServerConfig)


# --- the file format ------------------------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class _ResourcesModel(BaseModel):
    model_config = _STRICT
    requests: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_REQUESTS))
    limits: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_LIMITS))

    @field_validator("requests", "limits")
    @classmethod
    def _quantities(cls, value: dict[str, str]) -> dict[str, str]:
        for name, quantity in value.items():
            if name not in _RESOURCE_NAMES:
                raise ValueError(f"unknown resource {name!r}; accepted: {', '.join(_RESOURCE_NAMES)}")
            if not _QUANTITY_RE.match(quantity):
                raise ValueError(f"{quantity!r} is not a Kubernetes quantity (e.g. 10m, 64Mi)")
        return value


class _AmbassadorModel(BaseModel):
    model_config = _STRICT
    allowed: bool = True
    disabled_namespaces: list[str] = Field(default_factory=list, alias="disabledNamespaces")
    image: str = Field(default=DEFAULT_AMBASSADOR_IMAGE, min_length=1)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", alias="imagePullPolicy"
    )
    port: int = Field(default=8001, ge=1024, le=65535)
    mode: Literal["native", "container"] = "native"
    resources: _ResourcesModel = Field(default_factory=_ResourcesModel)
    run_as_user: int = Field(default=65532, ge=1, alias="runAsUser")


class _CatalogEntryModel(BaseModel):
    """An env var the operator adds to the catalog: a name and exactly one source."""

    model_config = _STRICT
    name: str
    field_path: str | None = Field(default=None, alias="fieldPath")
    resource: str | None = None
    divisor: str | None = None
    value: str | None = None

    def problem(self) -> str | None:
        """What the apiserver (or the catalog) would refuse in this entry; None when it is fine."""
        if not ENV_NAME_RE.match(self.name):
            return "the name must be letters, digits, '_', '-' or '.', not starting with a digit"
        if self.name in ENV_BY_NAME:
            return "shadows the built-in catalog entry of that name; choose another name"
        sources = [s for s in (self.field_path, self.resource, self.value) if s is not None]
        if len(sources) != 1 or (self.divisor is not None and self.resource is None):
            return "exactly one of fieldPath, resource (with divisor) or value"
        if self.field_path is not None:
            return self._field_path_problem(self.field_path)
        if self.resource is not None:
            return self._resource_problem(self.resource, self.divisor)
        return None

    @staticmethod
    def _field_path_problem(path: str) -> str | None:
        subscripted = _SUBSCRIPTED.match(path)
        if path in _ENV_FIELD_PATHS or (subscripted and not qualified_name_problem(subscripted.group(2))):
            return None
        return (
            f"fieldPath {path!r} is not allowed in env; accepted: {', '.join(_ENV_FIELD_PATHS)}, "
            "metadata.labels['<key>'], metadata.annotations['<key>']"
        )

    @staticmethod
    def _resource_problem(resource: str, divisor: str | None) -> str | None:
        if resource not in _ENV_RESOURCES:
            return f"resource {resource!r} is not one of {', '.join(_ENV_RESOURCES)}"
        accepted = _CPU_DIVISORS if resource.endswith(".cpu") else _MEMORY_DIVISORS
        if divisor not in accepted:
            return f"divisor {divisor!r} is not accepted for {resource}; use one of {', '.join(accepted)}"
        return None

    def freeze(self) -> EnvField:
        return EnvField(
            self.name, field_path=self.field_path, resource=self.resource, divisor=self.divisor, value=self.value
        )


class _OtelModel(BaseModel):
    model_config = _STRICT
    # On the namespace-wide path (/mutate-namespace), pods in these namespaces get downward.dev/otel by default.
    namespaces: list[str] = Field(default_factory=list)


class _DefaultsModel(BaseModel):
    model_config = _STRICT
    env: list[str] = Field(default_factory=lambda: list(SEED_ENV))
    volume: bool = True
    mount_path: str = Field(default=DEFAULT_MOUNT_PATH, alias="mountPath")

    @field_validator("mount_path")
    @classmethod
    def _mount_path(cls, value: str) -> str:
        problem = mount_path_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class _ServerModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)  # numbers: 5 and 5.0 alike
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=64 * 1024, alias="maxBodyBytes", strict=True)
    request_timeout_seconds: float = Field(default=3.0, gt=0, le=30, alias="requestTimeoutSeconds")
    header_timeout_seconds: float = Field(default=5.0, gt=0, le=60, alias="headerTimeoutSeconds")
    keep_alive_seconds: float = Field(default=120.0, gt=0, alias="keepAliveSeconds")
    max_connections: int = Field(default=1000, ge=1, alias="maxConnections", strict=True)
    shutdown_delay_seconds: float = Field(default=5.0, ge=0, alias="shutdownDelaySeconds")
    graceful_timeout_seconds: float = Field(default=20.0, ge=0, alias="gracefulTimeoutSeconds")
    cert_reload_seconds: float = Field(default=2.0, gt=0, alias="certReloadSeconds")


class ConfigFile(BaseModel):
    """The YAML document (the Helm chart's `config` value); its JSON schema bounds the chart's."""

    model_config = _STRICT
    annotation_prefix: str = Field(default=DEFAULT_PREFIX, alias="annotationPrefix")
    defaults: _DefaultsModel = Field(default_factory=_DefaultsModel)
    ambassador: _AmbassadorModel = Field(default_factory=_AmbassadorModel)
    server: _ServerModel = Field(default_factory=_ServerModel)
    catalog: list[_CatalogEntryModel] = Field(default_factory=list)
    otel: _OtelModel = Field(default_factory=_OtelModel)

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, entries: list[_CatalogEntryModel]) -> list[_CatalogEntryModel]:
        # A bad entry stops the server, named; never skipped (an app would start without its variable).
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            if entry.name in seen:
                raise ValueError(f"entry {index} ({entry.name}) is defined twice")
            seen.add(entry.name)
            problem = entry.problem()
            if problem:
                raise ValueError(f"entry {index} ({entry.name}): {problem}")
        return entries

    @model_validator(mode="after")
    def _default_env(self) -> ConfigFile:
        accepted = (*ENV_NAMES, *(entry.name for entry in self.catalog))
        unknown = [name for name in self.defaults.env if name not in accepted]
        if unknown:
            raise ValueError(f"defaults.env: unknown env var(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
        return self

    @field_validator("annotation_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if len(value) > 254 or not _PREFIX_RE.match(value):
            raise ValueError("must be a DNS subdomain followed by '/', e.g. downward.dev/")
        return value

    def freeze(self) -> OperatorConfig:
        amb = self.ambassador
        core = Config(
            prefix=self.annotation_prefix,
            default_env=tuple(dict.fromkeys(self.defaults.env)),
            default_volume=self.defaults.volume,
            default_mount_path=canonical_mount_path(self.defaults.mount_path),
            ambassador=AmbassadorConfig(
                allowed=amb.allowed,
                disabled_namespaces=frozenset(amb.disabled_namespaces),
                image=amb.image,
                image_pull_policy=amb.image_pull_policy,
                port=amb.port,
                mode=amb.mode,
                requests=tuple(amb.resources.requests.items()),
                limits=tuple(amb.resources.limits.items()),
                run_as_user=amb.run_as_user,
            ),
            extra_env=tuple(entry.freeze() for entry in self.catalog),
            otel_namespaces=frozenset(self.otel.namespaces),
        )
        return OperatorConfig(core, ServerConfig(**self.server.model_dump()))


def _explain(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{key}: {message}" if key else message)  # a check across keys names them itself
    return "invalid configuration: " + "; ".join(lines)


def config_from_mapping(raw: Any) -> OperatorConfig:
    """Validate a parsed YAML document and freeze it; raises ConfigError naming each bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("invalid configuration: the top level must be a mapping")
    try:
        return ConfigFile.model_validate(raw, by_alias=True).freeze()
    except ValidationError as error:
        raise ConfigError(_explain(error)) from None


def load_config(path: Path | None) -> OperatorConfig:
    """Read the operator's YAML file (or the built-in defaults when there is none)."""
    if path is None:
        return OperatorConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read configuration file {path}: {error.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"configuration file {path} is not valid YAML: {error}") from None
    return config_from_mapping(raw)
