"""The Docker Engine API application: routing, version handling, errors → status codes."""

import json
import logging

from aiohttp import web

from .. import __version__
from ..errors import DockyardError, InvalidArgument
from .errors import status_for

log = logging.getLogger(__name__)

API_VERSION = "1.43"
MIN_API_VERSION = "1.24"


def _vtuple(v: str) -> tuple[int, int]:
    a, b = v.split(".")
    return int(a), int(b)


def error_response(status: int, message: str) -> web.Response:
    # exactly "application/json" (no charset): the docker CLI shows the raw body otherwise
    return web.Response(status=status, body=json.dumps({"message": message}).encode(),
                        headers={"Content-Type": "application/json"})


@web.middleware
async def headers_middleware(request: web.Request, handler):
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            resp = error_response(exc.status, "page not found" if exc.status == 404
                                  else "method not allowed")
        else:
            raise
    except DockyardError as exc:
        status = status_for(exc)
        if status == 304:
            resp = web.Response(status=304)
        else:
            resp = error_response(status, str(exc))
    except json.JSONDecodeError as exc:
        resp = error_response(400, f"invalid JSON: {exc}")
    except (ConnectionResetError, BrokenPipeError):
        raise
    except Exception as exc:  # the daemon keeps serving whatever a handler does
        log.exception("internal error in %s %s", request.method, request.path)
        resp = error_response(500, f"internal error: {exc}")
    if not resp.prepared:
        resp.headers["Api-Version"] = API_VERSION
        resp.headers["Server"] = f"Docker/{__version__} (linux) dockyard"
        resp.headers["Docker-Experimental"] = "false"
        resp.headers["Ostype"] = "linux"
    return resp


class VersionedApp:
    """Registers each route at ``/path`` and at ``/v{major}.{minor}/path``."""

    def __init__(self, app: web.Application):
        self.app = app

    def add(self, method: str, path: str, handler) -> None:
        self.app.router.add_route(method, path, handler)
        self.app.router.add_route(method, r"/v{_version:\d+\.\d+}" + path, _check_version(handler))


def _check_version(handler):
    async def wrapped(request: web.Request):
        version = request.match_info["_version"]
        if _vtuple(version) > _vtuple(API_VERSION):
            raise InvalidArgument(f"client version {version} is too new. "
                                  f"Maximum supported API version is {API_VERSION}")
        if _vtuple(version) < _vtuple(MIN_API_VERSION):
            raise InvalidArgument(
                f"client version {version} is too old. Minimum supported API version is "
                f"{MIN_API_VERSION}, please upgrade your client to a newer version")
        return await handler(request)

    return wrapped


async def read_json(request: web.Request, default=None):
    """Parse a JSON body: empty means ``default``; malformed is a 400, never a 500."""
    raw = await request.read()
    if not raw.strip():
        return default
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"invalid JSON: {e}") from None


def make_app(engine) -> web.Application:
    from . import (
        build,
        commit,
        containers,
        distribution,
        image_archive,
        images,
        plugins,
        swarm,
        system,
        volumes,
    )
    from . import networks as network_routes

    # client_max_size bounds JSON bodies; image uploads are streamed and not limited by it.
    app = web.Application(middlewares=[headers_middleware], client_max_size=16 << 20)
    app["engine"] = engine
    routes = VersionedApp(app)
    system.register(routes)
    containers.register(routes)
    images.register(routes)
    commit.register(routes)
    image_archive.register(routes)
    volumes.register(routes)
    network_routes.register(routes)
    build.register(routes)
    distribution.register(routes)
    swarm.register(routes)
    plugins.register(routes)
    return app
