"""What the Engine API calls: pull, push and login, each a blocking call that reports
docker's JSON progress messages through ``emit`` (the API runs it in a thread)."""

from __future__ import annotations

import threading

from .. import reference as _reference
from ..errors import InvalidArgument, Unauthorized
from ..image.store import Image, ImageStore
from .auth import AuthConfig, basic_header
from .options import RegistryOptions
from .progress import Emit, Progress
from .pull import Puller
from .push import Pusher
from .sources import BlobSources
from .transport import Session


class DistributionService:
    def __init__(self, images: ImageStore, options: RegistryOptions | None = None):
        self.images = images
        self.options = options or RegistryOptions()
        self.sources = BlobSources(images.meta)

    def pull(self, name: str, tag: str | None, auth: AuthConfig, emit: Emit,
             platform: str | None = None, cancel: threading.Event | None = None
             ) -> list[Image]:
        """``POST /images/create?fromImage=NAME&tag=TAG``; no tag and no digest = all tags."""
        ref = _reference.parse(name, default_tag=False)
        all_tags = False
        if tag:
            if tag.startswith("sha256:") or ":" in tag:
                if ref.digest or ref.tag:
                    raise InvalidArgument("cannot give a tag or digest twice")
                ref = _reference.Reference(ref.domain, ref.path, None, tag)
            elif ref.tag or ref.digest:
                if ref.tag != tag:
                    raise InvalidArgument(f"invalid reference format: {name}:{tag}")
            else:
                if not _reference.is_valid_tag(tag):
                    raise InvalidArgument(f"invalid tag format: {tag!r}")
                ref = ref.with_tag(tag)
        elif not ref.tag and not ref.digest:
            all_tags = True
        puller = Puller(self.options, self.images, self.sources, Progress(emit), cancel)
        return puller.pull(ref, auth, platform, all_tags)

    def push(self, name: str, tag: str | None, auth: AuthConfig, emit: Emit,
             cancel: threading.Event | None = None) -> list[dict]:
        """``POST /images/{name}/push?tag=``; no tag pushes every local tag of the repo."""
        pusher = Pusher(self.options, self.images, self.sources, Progress(emit), cancel)
        return pusher.push(name, tag, auth)

    def describe(self, name: str, auth: AuthConfig) -> dict:
        """``GET /distribution/{name}/json`` (docker-py's ``get_registry_data``)."""
        puller = Puller(self.options, self.images, self.sources, Progress(lambda _m: None))
        return puller.describe(_reference.parse(name, default_tag=False), auth)

    def login(self, auth: AuthConfig, server: str) -> dict:
        """``POST /auth``: check the credentials against the registry's ``/v2/``."""
        host = normalize_server(server)
        ep = self.options.endpoints(host, push=True)[-1]
        session = Session(self.options, ep, "", auth, ())
        try:
            session.ping()
            ch = session.challenge
            if ch is None:
                return {"Status": "Login Succeeded", "IdentityToken": ""}
            if ch.scheme == "bearer":
                try:
                    session._token(ch, "", force=True)
                except Unauthorized as e:
                    text = getattr(e, "text", "") or "unauthorized: authentication required"
                    raise Unauthorized(f'Get "{session.url("/v2/")}": {text}') from None
                return {"Status": "Login Succeeded", "IdentityToken": ""}
            resp = session._send("GET", "/v2/", {"Authorization": basic_header(auth)}, None,
                                 pooled=True, auth=False)
            resp.read(1 << 16)
            if resp.status == 200:
                return {"Status": "Login Succeeded", "IdentityToken": ""}
            raise Unauthorized(f"login attempt to {session.url('/v2/')} failed with status: "
                               f"{resp.status} {resp.raw.reason}")
        finally:
            session.close()


def normalize_server(server: str) -> str:
    """``https://index.docker.io/v1/`` → ``docker.io``; ``http://h:5000/`` → ``h:5000``."""
    s = (server or "").strip()
    for p in ("https://", "http://"):
        if s.startswith(p):
            s = s[len(p):]
    s = s.split("/", 1)[0]
    if s in ("", "index.docker.io", "registry-1.docker.io", "docker.io"):
        return "docker.io"
    return s
