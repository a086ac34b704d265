"""TLS for client connections (``security.protocol`` SSL or SASL_SSL)."""

from __future__ import annotations

import ssl

from client.errors import IllegalConfigError


def client_context(
    cafile: str | None,
    certfile: str | None = None,
    keyfile: str | None = None,
    password: str | None = None,
    *,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A TLS 1.2+ client context trusting ``cafile`` (the system's CAs without one) and
    presenting ``certfile`` / ``keyfile`` when the broker asks for a client certificate.
    Raises IllegalConfigError for a file that cannot be read."""
    try:
        context = ssl.create_default_context(cafile=cafile or None)
        if certfile:
            context.load_cert_chain(certfile, keyfile or None, password or None)
    except (OSError, ssl.SSLError) as error:
        raise IllegalConfigError(f"TLS settings: {error}", "ssl.cafile") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    return context
