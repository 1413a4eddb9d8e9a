"""The strict OpenAPI schema of a Pod, per Kubernetes version (kubernetes_validate)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the venv (types-jsonschema)
import kubernetes_validate
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

# The oldest and newest Kubernetes versions we support: native sidecars (init containers with
# restartPolicy: Always) are beta and on by default from 1.29.
SCHEMA_VERSIONS: tuple[str, ...] = ("1.29", "1.37")


@functools.cache
def _validator(version: str) -> jsonschema.protocols.Validator:
    """kubernetes_validate.validate's strict-mode validator, built once per version (it re-reads 1.8 MB per call)."""
    known = {kv_utils.major_minor(v) for v in kv_utils.all_versions()}
    if version not in known:
        raise ValueError(
            f"kubernetes_validate {kubernetes_validate.__version__} has no schema for {version}: {sorted(known)}"
        )
    directory = f"kubernetes-json-schema/v{version}.0-local-strict"
    schema = kv_utils.schema_contents(f"{directory}/pod-v1.json", version)
    definitions = kv_utils.schema_contents(f"{directory}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_schema(pod: Mapping[str, Any], version: str) -> list[str]:
    """Strict OpenAPI-schema problems of a Pod for Kubernetes `version` ("1.29", "1.37"); [] when valid."""
    errors = sorted(_validator(version).iter_errors(dict(pod)), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{version} {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]
