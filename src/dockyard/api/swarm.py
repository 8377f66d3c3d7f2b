"""Swarm-mode endpoints: dockyard is never a swarm node, and says so as Docker does.

Clients probe these (docker-py's tests leave a swarm in every tearDown, the docker CLI asks
for nodes and services, compose checks ``/swarm``); a 404 reads as "this is not a Docker
daemon", while Docker's 503 reads as "a Docker daemon that is not in a swarm", which is true.
"""

from aiohttp import web

from ..errors import Unavailable

NOT_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or '
               '"docker swarm join" to connect this node to swarm and try again.')
NOT_IN_SWARM = "This node is not part of a swarm"
UNSUPPORTED = "dockyard does not support swarm mode: this node cannot join or create a swarm"


async def not_manager(request: web.Request) -> web.Response:
    raise Unavailable(NOT_MANAGER)


async def not_in_swarm(request: web.Request) -> web.Response:
    raise Unavailable(NOT_IN_SWARM)


async def unsupported(request: web.Request) -> web.Response:
    raise Unavailable(UNSUPPORTED)


_MANAGER_ONLY = [
    ("GET", "/swarm"), ("POST", "/swarm/update"), ("GET", "/swarm/unlockkey"),
    ("POST", "/swarm/unlock"),
    ("GET", "/nodes"), ("GET", "/nodes/{id}"), ("DELETE", "/nodes/{id}"),
    ("POST", "/nodes/{id}/update"),
    ("GET", "/services"), ("POST", "/services/create"), ("GET", "/services/{id}"),
    ("DELETE", "/services/{id}"), ("POST", "/services/{id}/update"),
    ("GET", "/services/{id}/logs"),
    ("GET", "/tasks"), ("GET", "/tasks/{id}"), ("GET", "/tasks/{id}/logs"),
    ("GET", "/secrets"), ("POST", "/secrets/create"), ("GET", "/secrets/{id}"),
    ("DELETE", "/secrets/{id}"), ("POST", "/secrets/{id}/update"),
    ("GET", "/configs"), ("POST", "/configs/create"), ("GET", "/configs/{id}"),
    ("DELETE", "/configs/{id}"), ("POST", "/configs/{id}/update"),
]


async def cluster_volume_update(request: web.Request) -> web.Response:
    raise Unavailable("volume update only valid for cluster volumes, but swarm is not enabled")


def register(r) -> None:
    r.add("PUT", "/volumes/{name}", cluster_volume_update)
    for method, path in _MANAGER_ONLY:
        r.add(method, path, not_manager)
    r.add("POST", "/swarm/leave", not_in_swarm)
    r.add("POST", "/swarm/init", unsupported)
    r.add("POST", "/swarm/join", unsupported)
