"""Managed-plugin endpoints: dockyard has no plugins, and answers as a Docker daemon with none.

``docker plugin ls`` and SDKs list plugins before they act; an empty list and "plugin not
found" are the truthful answers. Installing one is not supported: 501, said in one line.
"""

from aiohttp import web

from ..errors import NotFound
from .filters import parse_filters

NOT_SUPPORTED = "dockyard does not support managed plugins"


async def list_plugins(request: web.Request) -> web.Response:
    parse_filters(request.query.get("filters"), {"capability", "enable"})  # 400 on bad filters
    return web.json_response([])


async def not_found(request: web.Request) -> web.Response:
    raise NotFound(f"plugin \"{request.match_info['name']}\" not found")


async def not_supported(request: web.Request) -> web.Response:
    return web.json_response({"message": NOT_SUPPORTED}, status=501)


def register(r) -> None:
    r.add("GET", "/plugins", list_plugins)
    r.add("GET", "/plugins/privileges", not_supported)
    r.add("POST", "/plugins/pull", not_supported)
    r.add("POST", "/plugins/create", not_supported)
    r.add("GET", "/plugins/{name:.+}/json", not_found)
    for action in ("enable", "disable", "upgrade", "push", "set"):
        r.add("POST", "/plugins/{name:.+}/" + action, not_found)
    r.add("DELETE", "/plugins/{name:.+}", not_found)
