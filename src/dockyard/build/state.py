"""A stage's state between steps: the image config, its layers, and its would-be image ID.

The ID is computed exactly as ``ImageStore.create_image`` will (canonical JSON of the config
with its rootfs), so the last step's ID is the built image's ID and every step's ID is a
stable cache parent.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field

from ..image.layer import LayerInfo
from ..image.store import host_platform
from ..util import rfc3339_nano

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def canonical(config: dict) -> bytes:
    return json.dumps(config, separators=(",", ":"), sort_keys=True).encode()


def with_rootfs(config: dict, layers: list[LayerInfo]) -> dict:
    out = dict(config)
    out["rootfs"] = {"type": "layers", "diff_ids": [li.diff_id for li in layers]}
    return out


@dataclass
class State:
    config: dict
    layers: list[LayerInfo] = field(default_factory=list)
    image_id: str = ""
    base_id: str = ""  # the FROM image (the built image's Parent)

    @classmethod
    def scratch(cls) -> State:
        os_name, arch, variant = host_platform()
        # as Docker: an image built FROM scratch gets the default PATH
        cfg: dict = {"architecture": arch, "os": os_name,
                     "config": {"Env": [f"PATH={DEFAULT_PATH}"]}}
        if variant:
            cfg["variant"] = variant
        st = cls(cfg, [])
        st.image_id = "scratch"
        return st

    @classmethod
    def from_config(cls, config_bytes: bytes, layers: list[LayerInfo], image_id: str,
                    base_id: str = "") -> State:
        cfg = json.loads(config_bytes)
        cfg.pop("rootfs", None)
        return cls(cfg, list(layers), image_id, base_id)

    def fork(self) -> State:
        return State(copy.deepcopy(self.config), list(self.layers), self.image_id,
                     self.base_id)

    @property
    def cc(self) -> dict:
        """The container config (``config`` key), created on first use."""
        c = self.config.get("config")
        if not isinstance(c, dict):
            c = self.config["config"] = {}
        return c

    @property
    def top_chain_id(self) -> str | None:
        return self.layers[-1].chain_id if self.layers else None

    @property
    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for e in self.cc.get("Env") or []:
            k, _, v = e.partition("=")
            out[k] = v
        return out

    def set_env(self, key: str, value: str) -> None:
        env = [e for e in (self.cc.get("Env") or []) if e.partition("=")[0] != key]
        env.append(f"{key}={value}")
        self.cc["Env"] = env

    @property
    def shell(self) -> list[str]:
        return list(self.cc.get("Shell") or DEFAULT_SHELL)

    @property
    def workdir(self) -> str:
        return self.cc.get("WorkingDir") or "/"

    def config_bytes(self) -> bytes:
        return canonical(with_rootfs(self.config, self.layers))

    def restore(self, entry: dict, layer: LayerInfo | None) -> bytes:
        """A step taken from a cache source (``--cache-from``): its history entry and layer
        as they are in that image, so the following steps keep matching it."""
        if layer is not None:
            self.layers.append(layer)
        self.config["history"] = list(self.config.get("history") or []) + [dict(entry)]
        if entry.get("created"):
            self.config["created"] = entry["created"]
        raw = self.config_bytes()
        self.image_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        return raw

    def commit(self, created_by: str, created: str | None, layer: LayerInfo | None,
               comment: str = "") -> bytes:
        """Add a history entry (and the layer, if any), recompute the ID; returns the
        canonical config bytes (what the cache stores and the image store writes)."""
        now = created or rfc3339_nano()
        entry: dict = {"created": now, "created_by": created_by}
        if comment:
            entry["comment"] = comment
        if layer is None:
            entry["empty_layer"] = True
        else:
            self.layers.append(layer)
        self.config["history"] = list(self.config.get("history") or []) + [entry]
        self.config["created"] = now
        raw = self.config_bytes()
        self.image_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        return raw
