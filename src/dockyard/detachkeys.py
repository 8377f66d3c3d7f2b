"""Docker's detach keys (``ctrl-p,ctrl-q`` by default): typed on an attached stdin, they end the
attach and leave the container running. Shared by the daemon and the CLI: standard library only,
since the CLI imports it."""

from .errors import InvalidArgument

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL_PUNCT = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str | None) -> bytes:
    """``ctrl-p,ctrl-q`` → b"\\x10\\x11"; a single character stands for itself."""
    spec = spec or DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in spec.split(","):
        k = key.strip().lower()
        if len(k) == 1:
            out.append(ord(k))
        elif k.startswith("ctrl-") and len(k) == 6:
            c = k[5]
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
            elif c in _CTRL_PUNCT:
                out.append(_CTRL_PUNCT[c])
            else:
                raise InvalidArgument(f"Unknown character: '{key}'")
        else:
            raise InvalidArgument(f"Unknown character: '{key}'")
    return bytes(out)


class DetachFilter:
    """Passes stdin through, holding back a possible start of the key sequence; ``feed``
    returns (bytes to forward, detached?)."""

    def __init__(self, keys: bytes):
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        buf = self.held + data
        self.held = b""
        i = buf.find(self.keys)
        if i >= 0:
            return buf[:i], True
        # Keep a tail that could be the beginning of the sequence.
        for n in range(min(len(self.keys) - 1, len(buf)), 0, -1):
            if self.keys.startswith(buf[-n:]):
                self.held = buf[-n:]
                return buf[:-n], False
        return buf, False
