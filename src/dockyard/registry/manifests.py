"""Manifest parsing and validation: what a PUT must satisfy before anything is stored."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .. import digest as _digest
from .errors import RegistryError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
SUPPORTED = IMAGE_TYPES + INDEX_TYPES
FOREIGN_LAYERS = (
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)
MAX_MANIFEST_SIZE = 4 * 1024 * 1024


@dataclass
class Parsed:
    media_type: str
    blobs: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


def _invalid(msg: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", msg)


def _descriptor(d: Any, what: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise _invalid(f"{what}: descriptor must be an object")
    dg = d.get("digest")
    if not isinstance(dg, str) or not _digest.is_valid(dg):
        raise _invalid(f"{what}: invalid digest {dg!r}")
    size = d.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{what}: invalid size")
    mt = d.get("mediaType")
    if mt is not None and not isinstance(mt, str):
        raise _invalid(f"{what}: invalid mediaType")
    return d


def _base_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def parse(body: bytes, content_type: str | None) -> Parsed:
    """Validate the structure; raises MANIFEST_INVALID with a one-line reason."""
    if len(body) > MAX_MANIFEST_SIZE:
        raise RegistryError("PAYLOAD_TOO_LARGE", "manifest is larger than 4 MiB")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("manifest is not valid JSON") from None
    if not isinstance(doc, dict):
        raise _invalid("manifest must be a JSON object")
    if doc.get("schemaVersion") != 2:
        raise _invalid("unsupported manifest schemaVersion")
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise _invalid("invalid mediaType")
    header_type = _base_type(content_type)
    if header_type in ("application/octet-stream", "application/json"):
        header_type = None
    if body_type and header_type and body_type != header_type:
        raise _invalid(f"mediaType {body_type} does not match Content-Type {header_type}")
    media_type = body_type or header_type
    if media_type is None:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type not in SUPPORTED:
        raise _invalid(f"unsupported manifest media type {media_type}")
    out = Parsed(media_type)
    art = doc.get("artifactType")
    if art is not None and not isinstance(art, str):
        raise _invalid("invalid artifactType")
    ann = doc.get("annotations")
    if ann is not None:
        if not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values()):
            raise _invalid("invalid annotations")
        out.annotations = ann
    if "subject" in doc and doc["subject"] is not None:
        out.subject = _descriptor(doc["subject"], "subject")["digest"]
    if media_type in IMAGE_TYPES:
        if "manifests" in doc:
            raise _invalid("image manifest must not contain manifests")
        cfg = _descriptor(doc.get("config"), "config")
        out.blobs.append(cfg["digest"])
        layers = doc.get("layers", [])
        if not isinstance(layers, list):
            raise _invalid("layers must be a list")
        for i, layer in enumerate(layers):
            d = _descriptor(layer, f"layers[{i}]")
            if d.get("mediaType") in FOREIGN_LAYERS and d.get("urls"):
                continue
            out.blobs.append(d["digest"])
        out.artifact_type = art or cfg.get("mediaType")
    else:
        if "layers" in doc or "config" in doc:
            raise _invalid("index must not contain layers or config")
        mans = doc.get("manifests", [])
        if not isinstance(mans, list):
            raise _invalid("manifests must be a list")
        for i, m in enumerate(mans):
            out.children.append(_descriptor(m, f"manifests[{i}]")["digest"])
        out.artifact_type = art
    return out
