"""A throwaway certificate authority for TLS tests, made with the ``openssl`` command.

``TlsFiles`` holds a CA, a broker certificate for 127.0.0.1 / localhost (its chain and
key in one PEM file, as ``ssl.keystore.location`` takes it) and a client certificate
(CN=alice,OU=eng,O=acme) for mutual TLS.  Made once per test session, in a temporary dir.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLIENT_PRINCIPAL = "User:CN=alice,OU=eng,O=acme"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    broker_pem: Path  # certificate chain + private key
    client_cert: Path
    client_key: Path

    def broker_settings(
        self, listener: str = "PLAINTEXT", *, protocol: str = "SSL"
    ) -> dict[str, str]:
        """Broker settings making the fixtures' ``listener`` a TLS one (``protocol`` SSL or
        SASL_SSL): its name stays, so the tests' bootstrap addresses do too."""
        return {
            "listener.security.protocol.map": f"{listener}:{protocol},CONTROLLER:PLAINTEXT",
            "ssl.keystore.location": str(self.broker_pem),
            "ssl.truststore.location": str(self.ca),
        }


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _signed(directory: Path, name: str, subject: str, extensions: str | None) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.csr", "-subj", subject, cwd=directory)  # fmt: skip
    args = ["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2"]  # fmt: skip
    if extensions is not None:
        (directory / f"{name}.ext").write_text(extensions + "\n")
        args += ["-extfile", f"{name}.ext"]
    _openssl(*args, cwd=directory)


def make_certificates(directory: Path) -> TlsFiles:
    if shutil.which("openssl") is None:
        raise RuntimeError("the TLS tests need the openssl command")
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=odradek-test-ca", cwd=directory)  # fmt: skip
    _signed(directory, "broker", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    _signed(directory, "client", "/O=acme/OU=eng/CN=alice", None)
    broker_pem = directory / "broker.pem"
    broker_pem.write_text(
        (directory / "broker.crt").read_text() + (directory / "broker.key").read_text()
    )
    return TlsFiles(
        ca=directory / "ca.pem",
        broker_pem=broker_pem,
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )
