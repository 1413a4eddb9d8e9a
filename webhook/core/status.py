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
    token_volume: str | None = None  # the ambassador's own token volume, when the pod had no token

    def encode(self) -> str:
        fields: dict[str, object] = {
            "containers": list(self.containers),
            "env": list(self.env),
            "mountPath": self.mount_path,
            "ambassador": self.ambassador,
        }
        if self.token_volume is not None:  # written only when set: every other status stays as it always was
            fields["tokenVolume"] = self.token_volume
        return orjson.dumps(fields).decode()


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
    token_volume = raw.get("tokenVolume")
    if not (
        isinstance(containers, list)
        and all(isinstance(c, str) for c in containers)
        and isinstance(env, list)
        and all(isinstance(e, str) for e in env)
        and (mount_path is None or isinstance(mount_path, str))
        and ambassador in (None, "native", "container")
        and (token_volume is None or isinstance(token_volume, str))
    ):
        raise Denied(problem)
    return Status(tuple(containers), tuple(env), mount_path, ambassador, token_volume)
