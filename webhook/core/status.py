"""The status annotation: what the webhook injected, for humans and for idempotence on reinvocation."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .errors import Denied


@dataclass(frozen=True, slots=True)
class Status:
    containers: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    mount_path: str | None = None
    ambassador: str | None = None  # the mode ("native" or "container") when one was added

    def encode(self) -> str:
        return orjson.dumps(
            {
                "containers": list(self.containers),
                "env": list(self.env),
                "mountPath": self.mount_path,
                "ambassador": self.ambassador,
            }
        ).decode()


def decode_status(annotation: str, value: str | None) -> Status:
    """Read a status we wrote earlier; anything else there is refused rather than guessed at."""
    if value is None:
        return Status()
    problem = f"annotation {annotation} is written by downward-webhook and this value is not one it wrote; remove it"
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise Denied(problem) from None
    if not isinstance(raw, dict):
        raise Denied(problem)
    containers = raw.get("containers", [])
    env = raw.get("env", [])
    mount_path = raw.get("mountPath")
    ambassador = raw.get("ambassador")
    if not (
        isinstance(containers, list)
        and all(isinstance(c, str) for c in containers)
        and isinstance(env, list)
        and all(isinstance(e, str) for e in env)
        and (mount_path is None or isinstance(mount_path, str))
        and ambassador in (None, "native", "container")
    ):
        raise Denied(problem)
    return Status(tuple(containers), tuple(env), mount_path, ambassador)
