"""Docker Content Trust: a Notary-v1-compatible TUF metadata service.

- `metadata`: parsing TUF metadata as Notary writes it, canonical JSON, file hashes, expiry.
- `keys`: TUF public keys (ECDSA, X.509-wrapped ECDSA), signature checks, the server's own
  signing keys and their encryption at rest.
- `validation`: what an update must satisfy before it is stored; the server-signed snapshot
  and timestamp it produces.
- `signers`: who signed a tag (for badges and the signed-only pull policy).
- `gun`: a Notary GUN (HOST/ns/repo) to the repository name.

The database side is `services/content_trust.py`; the HTTP side `registry/trust.py`.
"""
