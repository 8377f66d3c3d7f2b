"""Make a CA, a server certificate and a client certificate for the daemon's mutual TLS.

Uses the ``cryptography`` library (never hand-rolled ASN.1). The files are named as Docker
expects them: ``ca.pem``, ``server-cert.pem``/``server-key.pem`` for ``dockyard daemon
--tlsverify``, and ``cert.pem``/``key.pem`` (plus ``ca.pem``) in the client's
``DOCKER_CERT_PATH``. Keys are written 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os

from ..util import atomic_write


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(subject: str, issuer, public_key, days: int, not_before: dt.datetime | None):
    from cryptography import x509

    start = not_before or (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    return (x509.CertificateBuilder()
            .subject_name(_name(subject)).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days)))


def make_ca(cn: str = "dockyard CA", days: int = 3650):
    """A self-signed CA: (key, certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _key()
    b = _builder(cn, _name(cn), key.public_key(), days, None)
    b = b.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    b = b.add_extension(x509.KeyUsage(
        digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        encipher_only=False, decipher_only=False), critical=True)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False)
    return key, b.sign(key, hashes.SHA256())


def issue(ca_key, ca_cert, cn: str, *, server: bool, sans: list[str] | None = None,
          days: int = 825, not_before: dt.datetime | None = None):
    """A leaf certificate signed by the CA: (key, certificate).

    ``server`` certificates carry serverAuth and the SANs (DNS names or IP addresses) the
    clients dial; client certificates carry clientAuth, which the daemon checks.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _key()
    b = _builder(cn, ca_cert.subject, key.public_key(), days, not_before)
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    b = b.add_extension(x509.KeyUsage(
        digital_signature=True, key_encipherment=True, content_commitment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False), critical=True)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                        critical=False)
    if server:
        names: list = []
        for s in sans or ["localhost", "127.0.0.1"]:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                names.append(x509.DNSName(s))
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def write_pair(directory: str, cert_name: str, key_name: str, key, cert) -> None:
    os.makedirs(directory, exist_ok=True)
    atomic_write(os.path.join(directory, key_name), _pem_key(key), mode=0o600)
    atomic_write(os.path.join(directory, cert_name), _pem_cert(cert), mode=0o644)


def generate(directory: str, sans: list[str], client_cn: str = "client",
             days: int = 825) -> list[str]:
    """CA + server + client files in ``directory``; returns the names written."""
    ca_key, ca_cert = make_ca()
    write_pair(directory, "ca.pem", "ca-key.pem", ca_key, ca_cert)
    s_key, s_cert = issue(ca_key, ca_cert, sans[0] if sans else "localhost", server=True,
                          sans=sans, days=days)
    write_pair(directory, "server-cert.pem", "server-key.pem", s_key, s_cert)
    c_key, c_cert = issue(ca_key, ca_cert, client_cn, server=False, days=days)
    write_pair(directory, "cert.pem", "key.pem", c_key, c_cert)
    return ["ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem", "cert.pem", "key.pem"]
