"""Content digests (``algorithm:hex``) as the OCI image spec defines them."""

import hashlib
import re

from .errors import InvalidArgument

_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HEX_LEN = {"sha256": 64, "sha512": 128}


def parse(value: str) -> tuple[str, str]:
    """Split and validate a digest; raises InvalidArgument for anything malformed."""
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise InvalidArgument(f"invalid digest: {value!r}")
    algo, hexpart = value.split(":", 1)
    want = _HEX_LEN.get(algo)
    if want is None:
        raise InvalidArgument(f"unsupported digest algorithm: {algo}")
    if len(hexpart) != want or not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise InvalidArgument(f"invalid digest: {value!r}")
    return algo, hexpart


def is_valid(value: str) -> bool:
    try:
        parse(value)
        return True
    except InvalidArgument:
        return False


def of_bytes(data: bytes, algo: str = "sha256") -> str:
    return f"{algo}:{hashlib.new(algo, data).hexdigest()}"


class Hasher:
    """Incremental digest; hashlib releases the GIL on large updates, so threads overlap."""

    def __init__(self, algo: str = "sha256"):
        self.algo = algo
        self._h = hashlib.new(algo)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._h.update(data)
        self.size += len(data)

    def digest(self) -> str:
        return f"{self.algo}:{self._h.hexdigest()}"


def of_file(path: str, algo: str = "sha256") -> str:
    with open(path, "rb") as f:
        return f"{algo}:{hashlib.file_digest(f, algo).hexdigest()}"


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI ChainIDs: ChainID(L0)=DiffID(L0); ChainID(Ln)=sha256(ChainID(Ln-1) + ' ' + DiffID(Ln))."""
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append(of_bytes(f"{out[-1]} {diff_id}".encode()))
    return out
