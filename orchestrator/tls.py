"""A self-signed certificate for the orchestrator's HTTPS API (demos and tests).

Clients trust it by pinning the certificate file itself as their CA bundle
(`edgeft edge --ca-bundle cert.pem`); production deployments bring their own
certificate and key instead (`tls.certfile`, `tls.keyfile`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from orchestrator.credentials import write_private


def _san(names: list[str]):
    from cryptography import x509

    out = []
    for name in dict.fromkeys(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(out)


def self_signed(folder: Path, names: list[str], days: int = 30) -> tuple[Path, Path]:
    """Write cert.pem and key.pem (0600) into `folder`, valid for these IPs/host names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgeft orchestrator")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private(key_path, pem.decode("ascii"))  # created 0600: never readable by others, not even for a moment
    return cert_path, key_path
