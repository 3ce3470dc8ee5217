"""TLS for the gRPC listener, with certificate files re-read when they change.

gRPC asks `_fetch` for the certificate configuration at each new TLS handshake (its dynamic server
credentials); `_fetch` looks at the files' modification stamps and, when one changed, loads the new
certificate, key and client CA, checks that the key belongs to the certificate, and hands them over.
Connections already open keep theirs. A half-written or mismatched set is skipped (and logged) and the
last good one stays in use, so certificates can be rotated under load by rewriting the files.
"""

from __future__ import annotations

import logging
import os

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from effectd_server.config import TLSConfig

__all__ = ["ReloadingCertificates"]

log = logging.getLogger("effectd.tls")

_Stamp = tuple[tuple[int, int, int], ...]


def _public_bytes(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class ReloadingCertificates:
    """The server's TLS credentials from the files of a `TLSConfig`, reloaded when they change."""

    def __init__(self, config: TLSConfig) -> None:
        if config.cert is None or config.key is None:
            raise ValueError("TLS needs tls.cert and tls.key")
        self._paths = [config.cert, config.key, *([config.client_ca] if config.client_ca else [])]
        self._require_client_cert = config.client_ca is not None
        self._stamp = self._stat()
        self._initial = self._load()
        self.reloads = 0
        """How many times new files were taken into use (for tests and logs)."""

    def _stat(self) -> _Stamp:
        stamps = []
        for path in self._paths:
            try:
                info = os.stat(path)
            except OSError:
                stamps.append((0, 0, 0))
                continue
            stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
        return tuple(stamps)

    def _load(self) -> grpc.ServerCertificateConfiguration:
        contents: list[bytes] = []
        for path in self._paths:
            try:
                with open(path, "rb") as handle:
                    contents.append(handle.read())
            except OSError as exc:
                raise ValueError(f"cannot read TLS file {path}: {exc.strerror}") from None
        cert, key = contents[0], contents[1]
        try:
            leaf = x509.load_pem_x509_certificate(cert)
            private = serialization.load_pem_private_key(key, password=None)
        except ValueError as exc:
            raise ValueError(f"TLS files {self._paths[0]} / {self._paths[1]}: {exc}") from None
        if _public_bytes(leaf.public_key()) != _public_bytes(private.public_key()):
            raise ValueError(f"the TLS key {self._paths[1]} does not belong to the certificate {self._paths[0]}")
        if self._require_client_cert:
            try:
                x509.load_pem_x509_certificates(contents[2])
            except ValueError as exc:
                raise ValueError(f"TLS client CA {self._paths[2]}: {exc}") from None
        return grpc.ssl_server_certificate_configuration(
            [(key, cert)], root_certificates=contents[2] if self._require_client_cert else None
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        stamp = self._stat()
        if stamp == self._stamp:
            return None
        try:
            loaded = self._load()
        except ValueError as exc:
            # Mid-rotation (one file written, not the other yet) or broken: keep the last good set and
            # look again at the next handshake.
            log.warning("TLS files changed but cannot be used yet (%s); keeping the previous ones", exc)
            return None
        self._stamp = stamp
        self.reloads += 1
        log.info("TLS certificate files reloaded")
        return loaded

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._initial, self._fetch, require_client_authentication=self._require_client_cert
        )
