"""A small OCI distribution client speaking Docker token auth, for spec tests."""

import re

import requests

from .images import sha256

_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryClient:
    def __init__(self, url, user=None, password=None, verify=False):
        self.url = url.rstrip("/")
        self.auth = (user, password) if user else None
        self.session = requests.Session()
        self.verify = verify  # passed per request: REQUESTS_CA_BUNDLE would beat session.verify
        self.tokens = {}
        self.token_requests = 0
        self.last_token = None

    def token_for(self, challenge):
        params = dict(_CHALLENGE.findall(challenge))
        key = params.get("scope", "")
        if key not in self.tokens:
            query = {"service": params["service"]}
            if "scope" in params:
                query["scope"] = params["scope"]
            response = self.session.get(
                params["realm"], params=query, auth=self.auth, verify=self.verify
            )
            self.token_requests += 1
            if response.status_code != 200:
                return None
            self.tokens[key] = response.json()["token"]
        return self.tokens[key]

    def request(self, method, path, **kwargs):
        """Send a request; answer a Bearer challenge once, as docker does."""
        url = path if path.startswith("http") else self.url + path
        headers = dict(kwargs.pop("headers", None) or {})
        kwargs.setdefault("verify", self.verify)
        if self.last_token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.last_token}"
        response = self.session.request(
            method, url, headers=headers, allow_redirects=False, **kwargs
        )
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code == 401 and challenge.startswith("Bearer"):
            if 'error="insufficient_scope"' in challenge or 'error="invalid_token"' in challenge:
                self.tokens.pop(dict(_CHALLENGE.findall(challenge)).get("scope", ""), None)
            token = self.token_for(challenge)
            if token is None:
                return response
            headers["Authorization"] = f"Bearer {token}"
            self.last_token = token
            data = kwargs.get("data")
            if hasattr(data, "seek"):
                data.seek(0)
            response = self.session.request(
                method, url, headers=headers, allow_redirects=False, **kwargs
            )
        return response

    def push_blob(self, repo, data: bytes):
        digest = sha256(data)
        response = self.request(
            "POST",
            f"/v2/{repo}/blobs/uploads/",
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 201, response.text
        return digest

    def push_manifest(self, repo, reference, manifest: bytes, media_type):
        return self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            data=manifest,
            headers={"Content-Type": media_type},
        )

    def push_image(self, repo, tag, image):
        for blob in image.blobs:
            self.push_blob(repo, blob)
        response = self.push_manifest(repo, tag, image.manifest, image.media_type)
        assert response.status_code == 201, response.text
        return response.headers["Docker-Content-Digest"]

    def get_manifest(self, repo, reference, accept=None):
        accept = accept or ",".join(
            [
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            ]
        )
        return self.request("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept})
