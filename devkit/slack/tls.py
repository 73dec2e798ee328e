"""A throwaway certificate for the simulated Slack's HTTPS (bench/ack_latency.py --slack-tls).

slack.com answers only over TLS, so every call an app makes on a new connection pays a handshake
there; on plain loopback HTTP a benchmark cannot see that cost. The certificate names 127.0.0.1,
lives for a day, and is trusted by an app process through SSL_CERT_FILE (urllib and urllib3 both
load the default verify paths, which that variable sets).
"""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """(a server context for the sim, the certificate file an app trusts), written into `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())  # what slack.com's certificate uses too
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "simulated Slack")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "slack-sim-cert.pem", folder / "slack-sim-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
