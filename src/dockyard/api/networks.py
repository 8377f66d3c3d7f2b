"""Network routes of the Engine API (``/networks``), the NetworkSettings and Ports views of
containers, and dockyard's own live port publishing (``/containers/{id}/ports``)."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from ..errors import InvalidArgument
from .app import read_json
from .convert import unix_seconds
from .filters import match_labels, parse_filters, query_bool

_LIST_FILTERS = {"driver", "id", "label", "name", "scope", "type", "dangling"}
_PRUNE_FILTERS = {"until", "label", "label!"}


def _svc(request: web.Request):
    return request.app["engine"].networks


# ---- views ------------------------------------------------------------------------------------

def network_json(svc, n, verbose: bool = True) -> dict:
    if n.ipam_config is not None:  # as asked, as dockerd echoes it
        ipam_config = [dict(c) for c in n.ipam_config]
    else:
        ipam_config = []
        if n.subnet:
            cfg = {"Subnet": n.subnet, "Gateway": n.gateway}
            if n.ip_range:
                cfg["IPRange"] = n.ip_range
            ipam_config.append(cfg)
    options = dict(n.options)
    if n.predefined and n.driver == "bridge":
        options = {"com.docker.network.bridge.default_bridge": "true",
                   "com.docker.network.bridge.enable_icc": "true",
                   "com.docker.network.bridge.enable_ip_masquerade": "true",
                   "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                   "com.docker.network.bridge.name": n.bridge,
                   "com.docker.network.driver.mtu": "1500"}
    containers = {}
    for ep in svc.endpoints_of(n.id):
        if not ep.ip and n.driver == "bridge":
            continue  # Docker lists the endpoints of running containers only
        try:
            c = svc.containers.repo.get(ep.container_id)
        except Exception:
            continue
        prefix = _prefixlen(n)
        containers[c.id] = {"Name": c.name, "EndpointID": ep.endpoint_id or "",
                            "MacAddress": ep.mac or "",
                            "IPv4Address": f"{ep.ip}/{prefix}" if ep.ip else "",
                            "IPv6Address": f"{ep.ip6}/{_prefixlen6(n)}" if ep.ip6 else ""}
    return {
        "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local",
        "Driver": n.driver, "EnableIPv6": bool(n.ipv6),
        "IPAM": {"Driver": "default", "Options": n.ipam_options, "Config": ipam_config},
        "Internal": n.internal, "Attachable": n.attachable, "Ingress": False,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
        "Containers": containers if verbose else {},
        "Options": options, "Labels": n.labels,
    }


def _prefixlen(n) -> int:
    return ipaddress.ip_network(n.subnet).prefixlen if n.subnet else 0


def _prefixlen6(n) -> int:
    return ipaddress.ip_network(n.subnet6).prefixlen if n.subnet6 else 0


def _ports_map(c, published) -> dict:
    out: dict = {}
    for key in (c.config.get("ExposedPorts") or {}):
        k = key if "/" in key else f"{key}/tcp"
        out[k] = None
    if c.running:
        for p in published:
            out.setdefault(f"{p.container_port}/{p.proto}", None)
            out[f"{p.container_port}/{p.proto}"] = (out[f"{p.container_port}/{p.proto}"] or []) \
                + [{"HostIp": p.host_ip, "HostPort": str(p.host_port)}]
    return out


def network_settings(svc, c, snap: dict | None = None) -> dict:
    """Docker's NetworkSettings of a container (its endpoints, published ports); ``snap``:
    a svc.snapshot() shared by the containers of one listing."""
    networks = {}
    top = {"IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "MacAddress": "",
           "EndpointID": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
           "IPv6Gateway": ""}
    mode = (c.host_config.get("NetworkMode") or "default")
    mode = "bridge" if mode == "default" else mode
    empty_ep = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "",
                "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
                "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DriverOpts": None, "DNSNames": None}
    if svc is not None:
        if mode in ("host", "none"):
            try:
                n = svc.get(mode)
                networks[mode] = dict(empty_ep, NetworkID=n.id)
            except Exception:
                pass
        eps = snap["endpoints"].get(c.id, []) if snap else svc.container_endpoints(c.id)
        for ep, n in eps:
            live = bool(ep.ip) and c.running
            entry = dict(empty_ep, IPAMConfig=(ep.config.get("IPAMConfig") or None),
                         Links=ep.config.get("Links") or None,
                         Aliases=ep.config.get("Aliases") or None, NetworkID=n.id,
                         MacAddress=ep.config.get("MacAddress") or "",
                         DriverOpts=ep.config.get("DriverOpts") or None)
            if live:
                entry.update(MacAddress=ep.mac or "", EndpointID=ep.endpoint_id or "",
                             Gateway=n.gateway, IPAddress=ep.ip,
                             IPPrefixLen=_prefixlen(n))
                if ep.ip6:
                    entry.update(GlobalIPv6Address=ep.ip6, IPv6Gateway=n.gateway6,
                                 GlobalIPv6PrefixLen=_prefixlen6(n))
                if not n.predefined:
                    entry["DNSNames"] = [c.name, c.id[:12]] + list(
                        ep.config.get("Aliases") or [])
            networks[n.name] = entry
            if n.name == "bridge" and live:
                top = {k: entry[k] for k in top}
    published = [] if svc is None else snap["ports"].get(c.id, []) if snap else \
        svc.ports_of(c.id)
    pid = c.state.pid if c.running else 0
    return {
        "Bridge": "", "SandboxID": c.id if pid else "", "HairpinMode": False,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": _ports_map(c, published),
        "SandboxKey": f"/proc/{pid}/ns/net" if pid else "",
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        **top, "Networks": networks,
    }


def summary_ports(svc, c, snap: dict | None = None) -> list[dict]:
    """The Ports of ``GET /containers/json`` (what ps shows)."""
    out = []
    published = [] if svc is None or not c.running else snap["ports"].get(c.id, []) if snap \
        else svc.ports_of(c.id)
    done = set()
    for p in published:
        out.append({"IP": p.host_ip, "PrivatePort": p.container_port,
                    "PublicPort": p.host_port, "Type": p.proto})
        done.add((p.container_port, p.proto))
    for key in (c.config.get("ExposedPorts") or {}):
        port, _, proto = key.partition("/")
        if port.isdigit() and (int(port), proto or "tcp") not in done:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
    return out


# ---- routes -------------------------------------------------------------------------------------

def _match(svc, n, f: dict[str, list[str]]) -> bool:
    if "driver" in f and n.driver not in f["driver"]:
        return False
    if "id" in f and not any(n.id.startswith(v) for v in f["id"]):
        return False
    if "name" in f and not any(v in n.name for v in f["name"]):
        return False
    if "label" in f and not match_labels(n.labels, f["label"]):
        return False
    if "scope" in f and "local" not in f["scope"]:
        return False
    if "type" in f:
        for v in f["type"]:
            if v not in ("custom", "builtin"):
                raise InvalidArgument(f"invalid filter: 'type'='{v}'")
        kind = "builtin" if n.predefined else "custom"
        if kind not in f["type"]:
            return False
    if "dangling" in f:
        want = f["dangling"][0].lower() in ("1", "true")
        dangling = not n.predefined and not svc.endpoints_of(n.id)
        if dangling != want:
            return False
    return True


async def list_networks(request: web.Request) -> web.Response:
    svc = _svc(request)
    f = parse_filters(request.query.get("filters"), _LIST_FILTERS)
    return web.json_response([network_json(svc, n, verbose=False) for n in svc.list()
                              if _match(svc, n, f)])


async def inspect(request: web.Request) -> web.Response:
    svc = _svc(request)
    return web.json_response(network_json(svc, svc.get(request.match_info["id"])))


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, {})
    n = await _svc(request).create(body)
    return web.json_response({"Id": n.id, "Warning": ""}, status=201)


async def remove(request: web.Request) -> web.Response:
    await _svc(request).remove(request.match_info["id"])
    return web.Response(status=204)


async def connect(request: web.Request) -> web.Response:
    body = await read_json(request, {})
    if not isinstance(body, dict) or not isinstance(body.get("Container"), str):
        raise InvalidArgument("Container is required")
    endpoint = body.get("EndpointConfig")
    if endpoint is not None and not isinstance(endpoint, dict):
        raise InvalidArgument("EndpointConfig must be an object")
    await _svc(request).connect(request.match_info["id"], body["Container"], endpoint)
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    body = await read_json(request, {})
    if not isinstance(body, dict) or not isinstance(body.get("Container"), str):
        raise InvalidArgument("Container is required")
    await _svc(request).disconnect(request.match_info["id"], body["Container"],
                                   bool(body.get("Force")))
    return web.Response(status=200)


async def prune(request: web.Request) -> web.Response:
    import time

    f = parse_filters(request.query.get("filters"), _PRUNE_FILTERS)
    until = None
    if f.get("until"):
        until = _until_seconds(f["until"][0], time.time())

    def keep(n) -> bool:
        if until is not None and unix_seconds(n.created) >= until:
            return True
        if "label" in f and not match_labels(n.labels, f["label"]):
            return True
        if "label!" in f and any(match_labels(n.labels, [v]) for v in f["label!"]):
            return True
        return False

    gone = await _svc(request).prune(keep)
    return web.json_response({"NetworksDeleted": gone})


def _until_seconds(value: str, now: float) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    if value and value[-1] in units and value[:-1].replace(".", "", 1).isdigit():
        return now - float(value[:-1]) * units[value[-1]]
    try:
        return float(value)
    except ValueError:
        raise InvalidArgument(f"invalid until: {value}") from None


async def ports(request: web.Request) -> web.Response:
    """dockyard's own: ``{"Add": {"80/tcp": [{"HostPort": "8080"}]}, "Remove": {...}}``."""
    body = await read_json(request, {})
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a JSON object")
    add, rm = body.get("Add"), body.get("Remove")
    for v in (add, rm):
        if v is not None and not isinstance(v, dict):
            raise InvalidArgument("Add and Remove must be objects of port bindings")
    await _svc(request).update_ports(request.match_info["id"], add, rm)
    return web.Response(status=204)


async def remove_link(request: web.Request) -> web.Response:
    """``DELETE /containers/{name}/{alias}?link=1``: remove a legacy link; without link=1,
    ``name/alias`` names the linked container, which is removed (as dockerd)."""
    q = request.query
    parent, alias = request.match_info["id"], request.match_info["link"]
    if query_bool(q.get("link")):
        _svc(request).remove_link(parent, alias)
    else:
        child = _svc(request).linked_container(parent, alias)
        await request.app["engine"].containers.remove(child, force=query_bool(q.get("force")),
                                                      volumes=query_bool(q.get("v")))
    return web.Response(status=204)


def register(r) -> None:
    r.add("GET", "/networks", list_networks)
    r.add("GET", "/networks/{id}", inspect)
    r.add("POST", "/networks/create", create)
    r.add("DELETE", "/networks/{id}", remove)
    r.add("POST", "/networks/{id}/connect", connect)
    r.add("POST", "/networks/{id}/disconnect", disconnect)
    r.add("POST", "/networks/prune", prune)
    r.add("POST", "/containers/{id}/ports", ports)
    r.add("DELETE", "/containers/{id}/{link}", remove_link)
