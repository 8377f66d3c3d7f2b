"""Manifests as the registry serves them: Docker v2 schema 2 and lists, OCI manifests and
indexes; platform choice from an index; clear refusals for schema 1 and missing platforms."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .. import digest as _digest
from ..errors import InvalidArgument, NotFound

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
MAX_MANIFEST = 4 << 20
MAX_CONFIG = 8 << 20
MAX_LAYERS = 500  # overlayfs cannot stack many more lower directories anyway

SCHEMA1_REMOVED = (
    "[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 "
    "support has been removed. Suggest the author of {ref} to upgrade the image to the OCI "
    "Format or Docker Image manifest v2, schema 2. More information at "
    "https://docs.docker.com/go/deprecated-image-specs/")


@dataclass
class Manifest:
    media_type: str
    raw: bytes
    digest: str
    doc: dict

    @property
    def is_index(self) -> bool:
        return self.media_type in (OCI_INDEX, DOCKER_LIST)

    @property
    def config(self) -> dict:
        return self.doc["config"]

    @property
    def layers(self) -> list[dict]:
        return self.doc["layers"]


def parse(raw: bytes, content_type: str | None, ref: str) -> Manifest:
    """Decode and check the shape; the media type comes from the body, else the header."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(f"invalid manifest for {ref}: not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"invalid manifest for {ref}: not an object")
    ct = (content_type or "").split(";")[0].strip()
    mt = doc.get("mediaType") or ct
    if doc.get("schemaVersion") == 1 or mt in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED):
        raise InvalidArgument(SCHEMA1_REMOVED.format(ref=ref))
    if not mt:
        mt = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    m = Manifest(mt, raw, _digest.of_bytes(raw), doc)
    if m.is_index:
        if not isinstance(doc.get("manifests"), list):
            raise InvalidArgument(f"invalid manifest list for {ref}")
        for d in doc["manifests"]:
            _check_descriptor(d, ref)
    elif mt in (OCI_MANIFEST, DOCKER_MANIFEST):
        if not isinstance(doc.get("layers"), list) or not isinstance(doc.get("config"), dict):
            raise InvalidArgument(f"invalid manifest for {ref}")
        _check_descriptor(doc["config"], ref)
        if len(doc["layers"]) > MAX_LAYERS:
            raise InvalidArgument(f"invalid manifest for {ref}: more than {MAX_LAYERS} layers")
        for d in doc["layers"]:
            _check_descriptor(d, ref)
    else:
        raise InvalidArgument(f"unsupported manifest media type {mt} for {ref}")
    return m


def _check_descriptor(d: object, ref: str) -> None:
    if not isinstance(d, dict) or not _digest.is_valid(d.get("digest", "")) or \
            not isinstance(d.get("size"), int) or d["size"] < 0:
        raise InvalidArgument(f"invalid descriptor in the manifest of {ref}")


def platform_string(os_name: str, arch: str, variant: str) -> str:
    return "/".join(p for p in (os_name, arch, variant) if p)


def select(index: Manifest, want: tuple[str, str, str]) -> dict:
    """The index entry for the platform (variant defaults as containerd's matcher does)."""
    os_name, arch, variant = want
    candidates = []
    for d in index.doc["manifests"]:
        p = d.get("platform") or {}
        if p.get("os") != os_name or p.get("architecture") != arch:
            continue
        v = p.get("variant") or ""
        if variant and v and v != variant:
            continue
        if variant and not v and not (arch == "arm64" and variant == "v8"):
            continue
        candidates.append(d)
    if not candidates:
        raise NotFound(f"no matching manifest for {platform_string(*want)} "
                       "in the manifest list entries")
    return candidates[0]
