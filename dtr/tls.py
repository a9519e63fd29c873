"""The instance's TLS certificate: self-signed, generated on first start, regenerated when
the domain name changes. The database holds it for every replica
(services/instance_keys.py); each writes it to its own `certs/` files, which the server
reads (and follows: a changed file is served from the next connection, see
`tls_context.py`), at start and within seconds of another replica changing it
(`follow_shared_certificate`)."""

import datetime
import ipaddress
import logging
import os
import socket
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def certificate_paths(instance_dir):
    folder = Path(instance_dir) / "certs"
    return folder / "dtr.crt", folder / "dtr.key"


def host_of(address):
    """The host of a registry address (`host`, `host:port`, `[v6]`, `[v6]:port` or a bare
    IPv6 address): what a certificate names, without the port or brackets."""
    address = (address or "").strip()
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address


def subject_names(domain):
    """Names the certificate must cover (`domain` may carry a port: the host is named)."""
    names = [host_of(domain), socket.gethostname(), "localhost", "127.0.0.1"]
    return list(dict.fromkeys(n for n in names if n))


def ensure_certificate(instance_dir, domain):
    """The certificate every replica serves, written to this instance's files; returns
    their paths. The database's; on its first start, this instance's files (made before
    the certificate moved to the database), else a new one. A new one, stored for every
    replica, when it does not name the host of `domain` (a domain name setting, `host` or
    `host:port`; None: no name is set, any certificate will do). Inside a write transaction
    of the session, what it stores commits with it."""
    from .services import instance_keys

    cert_path, key_path = certificate_paths(instance_dir)
    names = subject_names(domain or socket.gethostname())
    pair = instance_keys.certificate(lambda: _files_or_new(cert_path, key_path, names))
    if domain and host_of(domain) not in _names_of(_load(pair.certificate)):
        pair = new_certificate(names)
        instance_keys.replace_certificate(pair)
    write_certificate_files(instance_dir, pair)
    return cert_path, key_path


def _load(pem: str):
    return x509.load_pem_x509_certificate(pem.encode())


def _files_or_new(cert_path, key_path, names):
    from .services.instance_keys import CertificatePair

    if cert_path.exists() and key_path.exists():
        try:
            pair = CertificatePair(cert_path.read_text(), key_path.read_text())
            _load(pair.certificate)
            serialization.load_pem_private_key(pair.key.encode(), None)
            return pair
        except (ValueError, TypeError, UnicodeDecodeError):
            pass  # unreadable: a new one
    return new_certificate(names)


def write_certificate_files(instance_dir, pair) -> bool:
    """Write a certificate and its key to the instance's files unless they hold it already
    (the key first: the server follows the certificate file); True when written."""
    cert_path, key_path = certificate_paths(instance_dir)
    try:
        if cert_path.read_text() == pair.certificate and key_path.read_text() == pair.key:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_tmp, cert_tmp = key_path.with_suffix(".tmp-key"), cert_path.with_suffix(".tmp-crt")
    key_tmp.write_text(pair.key)
    key_tmp.chmod(0o600)
    cert_tmp.write_text(pair.certificate)
    os.replace(key_tmp, key_path)
    os.replace(cert_tmp, cert_path)
    return True


FOLLOW_SECONDS = 2.0
log = logging.getLogger("dtr.tls")


def follow_shared_certificate(app, interval=FOLLOW_SECONDS) -> threading.Thread:
    """A thread that writes the database's certificate to this instance's files whenever
    another replica (or the command line) changed it, checking every `interval` seconds."""

    def follow():
        from .database import db
        from .services.instance_keys import stored_certificate

        while True:
            time.sleep(interval)
            try:
                with app.app_context():
                    try:
                        pair = stored_certificate()
                        if pair is not None and write_certificate_files(app.instance_path, pair):
                            log.info("TLS certificate changed by another process: now served")
                    finally:
                        db.session.remove()
            except Exception:  # noqa: BLE001 - a failed check must not end the thread
                log.exception("the shared TLS certificate could not be checked")

    thread = threading.Thread(target=follow, name="dtr-certificate", daemon=True)
    thread.start()
    return thread


def _names_of(certificate):
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.DNSName)] + [
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    ]


def _general_name(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def new_certificate(names):
    """A new self-signed certificate naming `names` (the first is its common name) and its
    key, as PEM (services.instance_keys.CertificatePair)."""
    from .services.instance_keys import CertificatePair

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, True, False, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    return CertificatePair(cert_pem.decode(), key_pem.decode())
