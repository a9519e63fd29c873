"""A real, private OpenLDAP server for tests.

`Slapd(folder).start()` writes its own cn=config (slapadd -n0) and seed data (slapadd -n1) into
`folder`, then runs `slapd -d 0` in the foreground on a free loopback port, as the current user
(root here), so the test owns the process and can stop and restart it. Nothing of the system's
slapd (/etc/ldap/slapd.d, /var/lib/ldap, its service) is used or touched.

StartTLS is served with a CA and server certificate (127.0.0.1, localhost) made for the test;
`ca_pem` is the CA to trust. Seeded directory under dc=example,dc=org:

    ou=people   gordon, orca, moby, ahab (inetOrgPerson; ahab's uid is "Ahab" on purpose)
                cn=dtr-bind (the service account: not an inetOrgPerson)
    ou=groups   cn=dtr-admins (groupOfNames: gordon), cn=frontend (groupOfNames: gordon, moby,
                ahab), cn=ops (groupOfUniqueNames: orca, moby), cn=core-posix (posixGroup: orca)
"""

import base64
import datetime
import hashlib
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

import ldap3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.child_server import ChildServer
from tests.support.server import free_port

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
BIND_DN = f"cn=dtr-bind,{PEOPLE}"
BIND_PASSWORD = "bind-secret"
USERS = {  # uid: (password, full name)
    "gordon": ("gordon-password-1", "Gordon the Turtle"),
    "orca": ("orca-password-1", "Orca Whale"),
    "moby": ("moby-password-1", "Moby Dock"),
    "Ahab": ("ahab-password-1", "Captain Ahab"),
}
SCHEMAS = ("core", "cosine", "nis", "inetorgperson")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")


def ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def user_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def _person_ldif(uid, password, full_name):
    surname = full_name.split()[-1]
    return (
        f"dn: {user_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {full_name}\n"
        f"sn: {surname}\nmail: {uid.lower()}@example.org\nuserPassword: {ssha(password)}\n"
    )


def _seed_ldif():
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n"
        "o: Example\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
        f"dn: {BIND_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n"
        f"cn: dtr-bind\nuserPassword: {ssha(BIND_PASSWORD)}\n",
        *(_person_ldif(uid, *values) for uid, values in USERS.items()),
        _group_ldif("dtr-admins", "groupOfNames", "member", ["gordon"]),
        _group_ldif("frontend", "groupOfNames", "member", ["gordon", "moby", "Ahab"]),
        _group_ldif("ops", "groupOfUniqueNames", "uniqueMember", ["orca", "moby"]),
        f"dn: cn=core-posix,{GROUPS}\nobjectClass: posixGroup\ncn: core-posix\n"
        "gidNumber: 5000\nmemberUid: orca\n",
    ]
    return "\n".join(entries)


def _group_ldif(name, object_class, attribute, uids):
    members = "".join(f"{attribute}: {user_dn(uid)}\n" for uid in uids)
    return f"dn: cn={name},{GROUPS}\nobjectClass: {object_class}\ncn: {name}\n{members}"


def _config_ldif(folder: Path):
    schemas = "".join(f"include: file://{SCHEMA_DIR / name}.ldif\n\n" for name in SCHEMAS)
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {folder}/slapd.pid
olcArgsFile: {folder}/slapd.args
olcTLSCACertificateFile: {folder}/ca.pem
olcTLSCertificateFile: {folder}/server.pem
olcTLSCertificateKeyFile: {folder}/server.key

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_DIR}
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}\
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {folder}/data
olcDbMaxSize: 67108864
olcSuffix: {SUFFIX}
olcRootDN: {ROOT_DN}
olcRootPW: {ssha(ROOT_PASSWORD)}
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member,uniqueMember,memberUid eq
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none
"""


def _certificates(folder: Path):
    """A CA and a server certificate for 127.0.0.1 and localhost, as PEM files; returns the CA."""
    now = datetime.datetime.now(datetime.UTC)

    def build(subject, issuer, key, signing_key, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build(
        "DTR test LDAP CA",
        "DTR test LDAP CA",
        ca_key,
        ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
        ],
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = build(
        "127.0.0.1",
        "DTR test LDAP CA",
        key,
        ca_key,
        [
            (x509.SubjectAlternativeName(names), False),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    (folder / "ca.pem").write_text(ca_pem)
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_pem


def _tool(name):
    """slapd and slapadd are in /usr/sbin, which a non-root PATH may lack."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not path:
        raise RuntimeError(f"{name} is not installed: run scripts/install-system-deps.sh")
    return path


class Slapd(ChildServer):
    """A private slapd: `url` is its ldap:// URL (StartTLS available), `ldaps_url` its ldaps://,
    `wrong_name_url` an ldap:// URL whose address the server certificate does not name."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{free_port()}"
        # The same server on an address its certificate does not name.
        self.wrong_name_url = f"ldap://127.0.0.2:{self.port}"
        self.ca_pem = None
        self.log_path = self.folder / "slapd.log"

    def _run(self, *args, stdin=None):
        result = subprocess.run(
            [_tool(args[0]), *args[1:]], input=stdin, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr}")

    def setup(self):
        config = self.folder / "slapd.d"
        config.mkdir(parents=True)
        (self.folder / "data").mkdir()
        self.ca_pem = _certificates(self.folder)
        self._run("slapadd", "-n0", "-F", str(config), stdin=_config_ldif(self.folder))
        self._run("slapadd", "-q", "-n1", "-F", str(config), stdin=_seed_ldif())
        return self

    def start(self, timeout=10):
        if self.ca_pem is None:
            self.setup()
        self.spawn(
            [
                *(_tool("slapd"), "-d", "0", "-F", str(self.folder / "slapd.d")),
                *("-h", f"{self.url}/ {self.ldaps_url}/ {self.wrong_name_url}/"),
            ],
            self.log_path,
        )

        def answers():
            self.connection().unbind()
            return True

        return self.wait_until_answering(
            "slapd", answers, timeout, interval=0.02, errors=(ldap3.core.exceptions.LDAPException,)
        )

    def connection(self):
        """A connection bound as the rootdn (may write anything)."""
        server = ldap3.Server("127.0.0.1", port=self.port, get_info=ldap3.NONE, connect_timeout=2)
        return ldap3.Connection(
            server, ROOT_DN, ROOT_PASSWORD, auto_bind=True, raise_exceptions=True
        )

    def add_user(self, uid, password, full_name=None, groups=()):
        """Adds an inetOrgPerson under ou=people, and as a member of the named groupOfNames."""
        full_name = full_name or uid.title()
        attributes = {
            "uid": uid,
            "cn": full_name,
            "sn": full_name.split()[-1],
            "mail": f"{uid.lower()}@example.org",
            "userPassword": ssha(password),
        }
        with self.connection() as conn:
            conn.add(user_dn(uid), ["inetOrgPerson"], attributes)
            for group in groups:
                conn.modify(
                    f"cn={group},{GROUPS}", {"member": [(ldap3.MODIFY_ADD, [user_dn(uid)])]}
                )
        return user_dn(uid)

    def remove_user(self, uid):
        """Deletes the user's entry and its memberships in groupOfNames groups."""
        dn = user_dn(uid)
        with self.connection() as conn:
            conn.search(GROUPS, f"(member={dn})", attributes=["cn"])
            for group in [entry.entry_dn for entry in conn.entries]:
                conn.modify(group, {"member": [(ldap3.MODIFY_DELETE, [dn])]})
            conn.delete(dn)
