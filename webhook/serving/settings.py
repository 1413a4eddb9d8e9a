"""What the server runs with: the operator's `server:` limits and the command line's address and files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The apiserver caps a request body at 3 MiB (etcd's 1.5 MiB object limit, plus encoding); an
# AdmissionReview wraps the object, and on UPDATE wraps it twice, so 6 MiB never rejects a real review.
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The `server:` section of the operator configuration."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Reading a request must finish well inside the apiserver's webhook timeout (default 10 s, chart 5 s).
    request_timeout_seconds: float = 3.0
    # Slow clients: the request line and headers must arrive this fast after a connection or a keep-alive.
    header_timeout_seconds: float = 5.0
    # Longer than the apiserver's idle-connection timeout (90 s), so we never close a connection it is reusing.
    keep_alive_seconds: float = 120.0
    max_connections: int = 1000
    # On SIGTERM: /readyz fails at once; new requests are still served for this long (endpoints catch up),
    # then the listener closes and in-flight requests get graceful_timeout_seconds to finish.
    shutdown_delay_seconds: float = 5.0
    graceful_timeout_seconds: float = 20.0
    cert_reload_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """`serve`'s command line: where to listen and the TLS files."""

    host: str
    port: int
    cert: Path
    key: Path
    log_level: str = "info"
    client_ca: Path | None = None  # verify the apiserver's client certificate against this CA
