"""TLS for the admission port: a hardened context, and certificates reloaded from disk without a restart.

Kubernetes updates a mounted Secret by swapping the `..data` symlink atomically, so polling the files'
contents sees either the old pair or the new one, never half of each. A new pair is loaded into a scratch
context first: a mismatched key or garbage is logged and the live context keeps serving the old pair.
`load_cert_chain` on the live context makes the next handshake use the new certificate. It sets the
certificate and then the key, so it must run on the event loop's thread: a handshake started between the two
calls (from another thread) would pair the new certificate with the old key and fail. Both loads read one
snapshot of the pair (a private copy of the bytes hashed): reading the paths again could straddle the next
`..data` swap, pairing one generation's certificate with the next one's key; OpenSSL would then refuse the
key and leave the live context without a usable pair.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from .logs import LOGGER_NAME, log_fields

# Mozilla "intermediate": for TLS 1.2, ECDHE with AEAD ciphers only; TLS 1.3 suites are all modern.
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)


def _digest(cert_pem: bytes, key_pem: bytes) -> bytes:
    return hashlib.sha256(cert_pem + b"\0" + key_pem).digest()


def harden(context: ssl.SSLContext) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION


def not_after(cert_pem: bytes) -> float:
    """The expiry (Unix time) of the first certificate in a PEM chain."""
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc.timestamp()


class CertificateReloader:
    """Polls a certificate/key pair and swaps it into a live SSLContext when both files changed validly."""

    def __init__(
        self,
        context: ssl.SSLContext,
        cert: Path,
        key: Path,
        *,
        interval: float,
        on_loaded: Callable[[float], None],
    ) -> None:
        self._context, self._cert, self._key = context, cert, key
        self._interval = interval
        self._on_loaded = on_loaded
        self._logger = logging.getLogger(LOGGER_NAME)
        self._digest = self._read_digest()
        with self._cert.open("rb") as handle:
            on_loaded(not_after(handle.read()))

    def _read(self) -> tuple[bytes, bytes] | None:
        try:
            return self._cert.read_bytes(), self._key.read_bytes()
        except OSError:
            return None

    def _read_digest(self) -> bytes | None:
        pair = self._read()
        return None if pair is None else _digest(*pair)

    def check(self) -> bool:
        """Reload if the files changed; True when a new pair went live."""
        pair = self._read()
        if pair is None or _digest(*pair) == self._digest:
            return False
        self._digest = _digest(*pair)  # a broken pair is reported once, not on every poll
        cert_pem, key_pem = pair
        with tempfile.TemporaryDirectory(prefix="downward-tls-") as private:  # mode 0700
            cert, key = Path(private) / "tls.crt", Path(private) / "tls.key"
            cert.write_bytes(cert_pem)
            key.write_bytes(key_pem)
            try:
                scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                scratch.load_cert_chain(cert, key)
                expiry = not_after(cert_pem)
            except (ssl.SSLError, ValueError) as error:
                log_fields(
                    self._logger, logging.ERROR, "new TLS certificate rejected; still serving the previous one",
                    cert=str(self._cert), key=str(self._key), error=str(error),
                )  # fmt: skip
                return False
            self._context.load_cert_chain(cert, key)  # the pair the scratch context accepted, byte for byte
        self._on_loaded(expiry)
        log_fields(self._logger, logging.INFO, "TLS certificate reloaded", cert=str(self._cert), notAfter=expiry)
        return True

    async def run(self) -> None:
        """Poll forever on the event loop (see the module docstring for why not a thread)."""
        while True:
            await asyncio.sleep(self._interval)
            self.check()
