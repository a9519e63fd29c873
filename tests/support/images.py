"""Build real test images (gzip'd tar layers, configs, manifests) without pulling anything."""

import gzip
import hashlib
import io
import json
import tarfile
import time
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_layer(files: dict) -> bytes:
    """An uncompressed tar of {path: bytes}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o755
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class Image:
    """A single-platform image: layers (gzip'd tars) and a config, in OCI or Docker form."""

    def __init__(self, files_per_layer, docker=False, arch="amd64", cmd=("/hello",)):
        self.docker = docker
        self.uncompressed = [tar_layer(files) for files in files_per_layer]
        self.layers = [gzip.compress(t, mtime=0) for t in self.uncompressed]
        self.config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "created": "2026-01-01T00:00:00Z",
                "config": {"Cmd": list(cmd)},
                "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in self.uncompressed]},
                "history": [{"created": "2026-01-01T00:00:00Z"} for _ in self.layers],
            },
            separators=(",", ":"),
        ).encode()
        self.manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": self.media_type,
                "config": {
                    "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                    "digest": sha256(self.config),
                    "size": len(self.config),
                },
                "layers": [
                    {
                        "mediaType": DOCKER_LAYER if docker else OCI_LAYER,
                        "digest": sha256(layer),
                        "size": len(layer),
                    }
                    for layer in self.layers
                ],
            },
            indent=2,
        ).encode()

    @property
    def media_type(self):
        return DOCKER_MANIFEST if self.docker else OCI_MANIFEST

    @property
    def digest(self):
        return sha256(self.manifest)

    @property
    def blobs(self):
        return [self.config, *self.layers]

    def descriptor(self, arch="amd64"):
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.manifest),
            "platform": {"architecture": arch, "os": "linux"},
        }

    def write_oci_layout(self, folder: Path, tag="latest"):
        """An OCI image layout, as skopeo's oci: transport reads."""
        blobs = folder / "blobs" / "sha256"
        blobs.mkdir(parents=True, exist_ok=True)
        for blob in [*self.blobs, self.manifest]:
            (blobs / sha256(blob).split(":")[1]).write_bytes(blob)
        (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        descriptor = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.manifest),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
        (folder / "index.json").write_text(json.dumps(index))
        return folder

    def docker_archive(self, path: Path, repo_tag: str):
        """A `docker load` archive (docker save format) of this image."""
        with tarfile.open(path, "w") as tar:

            def add(name, data):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = int(time.time())
                tar.addfile(info, io.BytesIO(data))

            config_name = sha256(self.config).split(":")[1] + ".json"
            add(config_name, self.config)
            layer_names = []
            for index, layer in enumerate(self.uncompressed):
                name = f"layer{index}/layer.tar"
                add(name, layer)
                layer_names.append(name)
            manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
            add("manifest.json", json.dumps(manifest).encode())
        return path


def simple_image(marker: str, docker=False, layers=2, arch="amd64") -> Image:
    """A small image whose content depends on `marker` (distinct digests per marker)."""
    files = [{f"layer{i}/{marker}.txt": f"{marker} {i}\n".encode() * 50} for i in range(layers)]
    return Image(files, docker=docker, arch=arch)


def index_of(images, docker=False):
    body = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST if docker else OCI_INDEX,
        "manifests": [img.descriptor(arch) for img, arch in images],
    }
    return json.dumps(body).encode()


def blob_descriptor(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def raw_manifest(config: bytes, layers, **extra) -> dict:
    """An OCI image manifest (a dict) of any config bytes and [(media type, bytes, extra
    descriptor fields)] layers, for tests that craft what no real image holds."""
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": blob_descriptor(OCI_CONFIG, config),
        "layers": [blob_descriptor(kind, data, **more) for kind, data, more in layers],
        **extra,
    }
