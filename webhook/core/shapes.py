"""Checking the shapes of the decoded pod, field by field: each error names the field and what it must be."""

from __future__ import annotations

from typing import Any

from .errors import BadReview


def invalid(where: str, problem: str) -> BadReview:
    return BadReview(f"request.object is not a valid Pod: {where} {problem}")


def as_mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(where, "must be an object")
    return value


def as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(where, "must be a list")
    return value


def as_string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(where, "must be a string")
    return value


def string_map(value: Any, where: str) -> dict[str, str]:
    result = as_mapping(value, where)
    for key, item in result.items():
        if not isinstance(item, str):
            raise invalid(f"{where}[{key!r}]", "must be a string")
    return result


def bad_strings(value: Any, key: str, where: str) -> BadReview:
    """The error for a list whose objects do not all carry a string `key`: the first wrong item, else 'required'."""
    for position, item in enumerate(as_list(value, where)):
        as_string(as_mapping(item, f"{where}[{position}]").get(key), f"{where}[{position}].{key}")
    return invalid(f"{where}[*].{key}", "is required")


def strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    """item[key] for each object of a list, all strings (e.g. every volumeMounts[].mountPath)."""
    found = [item.get(key) if isinstance(item, dict) else None for item in as_list(value, where)]
    texts = tuple(text for text in found if isinstance(text, str))
    if len(texts) != len(found):
        raise bad_strings(value, key, where)
    return texts
