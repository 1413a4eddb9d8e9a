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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .core.catalog import ENV_NAMES, SEED_ENV
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


class _DefaultsModel(BaseModel):
    model_config = _STRICT
    env: list[str] = Field(default_factory=lambda: list(SEED_ENV))
    volume: bool = True
    mount_path: str = Field(default=DEFAULT_MOUNT_PATH, alias="mountPath")

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in ENV_NAMES]
        if unknown:
            raise ValueError(f"unknown env var(s) {', '.join(unknown)}; accepted: {', '.join(ENV_NAMES)}")
        return value

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
        )
        return OperatorConfig(core, ServerConfig(**self.server.model_dump()))


def _explain(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{key}: {message}")
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
