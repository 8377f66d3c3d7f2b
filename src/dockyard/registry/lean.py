"""Keep the serving process small: OpenSSL stays out of it until something needs it.

Measured RSS (Python 3.11): ``import asyncio`` pulls in ``ssl`` (libssl, ~4.4 MiB) and the
registry's digests pull in ``_hashlib`` (libcrypto, ~3.5 MiB), together more than a third of
the reference registry's whole idle footprint. A plain-HTTP registry never needs ``ssl``, and a
registry that only serves pulls never hashes. So, before anything imports asyncio:

* ``ssl`` is hidden while asyncio is imported (asyncio then runs without TLS support, which it
  is written to do) unless the registry was asked to serve TLS;
* ``hashlib``, ``hmac`` and ``secrets`` (and a few modules imported but rarely used, see
  ``LAZY``) are registered as stand-ins that import the real module on first attribute use
  (thread-safe), so the first push, not start-up, loads libcrypto.

* ``trim`` hands the C heap's free pages back to the kernel (glibc's ``malloc_trim``): start-up
  and every burst of requests leave freed buffers behind that would otherwise stay resident.

Module references taken before ``prepare`` are unaffected; it is a no-op once asyncio is
loaded (tests calling the CLI in-process, for example). Only ``serve`` calls it.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

#: imported by the serve path but needed only by some requests (pushes, logins) or never
#: (``shutil``'s archive formats, ``urllib.parse``'s IPv6 host checks)
LAZY = ("hashlib", "hmac", "secrets", "bcrypt", "bz2", "lzma", "zlib", "ipaddress")
_lock = threading.RLock()
ModuleType = type(sys)


class _Deferred(ModuleType):  # type: ignore[misc, valid-type]
    """A module that becomes the real one the first time an attribute is asked for."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # import machinery probing: stay deferred
        return getattr(_load(self), attr)


def _load(stub: Any) -> Any:
    name = stub.__name__
    with _lock:
        real = stub.__dict__.get("_deferred_real")
        if real is None:
            if sys.modules.get(name) is stub:
                del sys.modules[name]
            real = __import__(name)
            stub.__dict__.update(real.__dict__)
            stub.__dict__["_deferred_real"] = real
    return real


def defer() -> None:
    """Register the ``LAZY`` stand-ins; call before parsing arguments (argparse imports
    ``shutil``, which imports the compression modules)."""
    if "asyncio" in sys.modules:
        return
    for name in LAZY:
        if name not in sys.modules:
            sys.modules[name] = _Deferred(name)


def prepare(tls: bool) -> None:
    """Import asyncio without ``ssl`` (unless ``tls``) and defer the hashing modules."""
    if "asyncio" in sys.modules:
        return
    defer()
    if not tls and "ssl" not in sys.modules:
        sys.modules["ssl"] = None  # type: ignore[assignment]
        try:
            import asyncio  # noqa: F401
        finally:
            if sys.modules.get("ssl", 0) is None:
                del sys.modules["ssl"]


def is_loaded(name: str) -> bool:
    """True when ``name`` is imported for real (not a deferred stand-in)."""
    m = sys.modules.get(name)
    return m is not None and (not isinstance(m, _Deferred) or "_deferred_real" in m.__dict__)


_trim: Any = None


def trim() -> None:
    """Return free C-heap memory to the kernel (glibc only; a no-op elsewhere)."""
    global _trim
    if _trim is None:
        try:
            import ctypes

            _trim = ctypes.CDLL(None).malloc_trim
            _trim.argtypes = [ctypes.c_size_t]
        except (ImportError, OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)
