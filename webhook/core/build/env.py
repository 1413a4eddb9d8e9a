"""Env entries: the catalog's, the labels', the operator's and otel's variables, then the ambassador's address."""

from __future__ import annotations

from typing import Any

from ..catalog import PROXY_ENV_NAME, EnvField


def env_entries(container: str, fields: tuple[EnvField, ...], proxy_url: str | None) -> list[dict[str, Any]]:
    """The entries prepended to `container`'s env, in order (the user's own entries may refer to them)."""
    entries = [field.entry(container) for field in fields]
    if proxy_url is not None:
        entries.append({"name": PROXY_ENV_NAME, "value": proxy_url})
    return entries
