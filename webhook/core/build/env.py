"""Env entries: the catalog's fieldRef/resourceFieldRef variables, then the ambassador's address."""

from __future__ import annotations

from typing import Any

from ..catalog import ENV_BY_NAME, PROXY_ENV_NAME


def env_entries(container: str, names: tuple[str, ...], proxy_url: str | None) -> list[dict[str, Any]]:
    """The entries prepended to `container`'s env, in order (the user's own entries may refer to them)."""
    entries = [{"name": name, "valueFrom": ENV_BY_NAME[name].value_from(container)} for name in names]
    if proxy_url is not None:
        entries.append({"name": PROXY_ENV_NAME, "value": proxy_url})
    return entries
