"""The downwardAPI volume of one container, and its mount."""

from __future__ import annotations

from typing import Any

from ..catalog import FILE_CATALOG

DEFAULT_MODE = 0o644  # the apiserver's default, written out so a read-back pod is identical


def volume(name: str, container: str) -> dict[str, Any]:
    """The volume whose files describe the pod and `container` (its resource files name the container)."""
    items = [field.item(container) for field in FILE_CATALOG]
    return {"name": name, "downwardAPI": {"defaultMode": DEFAULT_MODE, "items": items}}


def mount(name: str, mount_path: str) -> dict[str, Any]:
    # No subPath: a subPath mount never sees updates, and the labels/annotations files must stay live.
    return {"name": name, "mountPath": mount_path, "readOnly": True}
