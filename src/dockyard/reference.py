"""Image references, normalised as Docker does.

``busybox`` → ``docker.io/library/busybox:latest``; the familiar form (``busybox:latest``) is
what users see in RepoTags and tables. Grammar from distribution/reference.
"""

import re
from dataclasses import dataclass

from . import digest as _digest
from .errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*"
    r"(?::[0-9]+)?$|^\[[a-fA-F0-9:]+\](?::[0-9]+)?$"
)
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_NAME_MAX = 255


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Fully qualified repository name: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short repository name users type: ``busybox``, ``me/app``, ``host:5000/app``."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
                return self.path[len(OFFICIAL_PREFIX):]
            return self.path
        return self.name

    def __str__(self) -> str:
        return self.familiar_string()

    def full_string(self) -> str:
        return self._with_suffix(self.name)

    def familiar_string(self) -> str:
        return self._with_suffix(self.familiar_name)

    def _with_suffix(self, name: str) -> str:
        s = name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    def with_tag(self, tag: str) -> "Reference":
        return Reference(self.domain, self.path, tag, None)

    def with_default_tag(self) -> "Reference":
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, DEFAULT_TAG, None)
        return self


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    if i == -1 or (
        "." not in name[:i] and ":" not in name[:i] and name[:i] != "localhost"
        and name[:i].lower() == name[:i]
    ):
        domain, rest = DEFAULT_DOMAIN, name
    else:
        domain, rest = name[:i], name[i + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = OFFICIAL_PREFIX + rest
    return domain, rest


def parse(value: str, default_tag: bool = True) -> Reference:
    """Parse and normalise; raises InvalidArgument with docker's wording for bad input."""
    if not isinstance(value, str) or not value:
        raise InvalidArgument("invalid reference format")
    if len(value) > 4096:
        raise InvalidArgument("invalid reference format: repository name too long")
    rest = value
    digest = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        _digest.parse(digest)
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG_RE.match(tag):
            raise InvalidArgument("invalid reference format")
    if not rest:
        raise InvalidArgument("invalid reference format")
    domain, path = _split_domain(rest)
    if not _DOMAIN_RE.match(domain):
        raise InvalidArgument("invalid reference format")
    if not _PATH_RE.match(path):
        if path.lower() != path and _PATH_RE.match(path.lower()):
            raise InvalidArgument("invalid reference format: repository name must be lowercase")
        raise InvalidArgument("invalid reference format")
    if len(domain) + 1 + len(path) > _NAME_MAX:
        raise InvalidArgument("invalid reference format: repository name too long")
    ref = Reference(domain, path, tag, digest)
    return ref.with_default_tag() if default_tag else ref


def is_valid_repository_path(path: str) -> bool:
    """True for a registry repository name (``library/busybox``, ``a/b/c``)."""
    return bool(_PATH_RE.match(path)) and len(path) <= _NAME_MAX


def is_valid_tag(tag: str) -> bool:
    return bool(_TAG_RE.match(tag))
