"""Networks: the predefined bridge/host/none, user-defined bridges, container endpoints.

The container service calls four hooks: ``validate`` and ``created`` at create, ``plan`` before
the OCI spec is written (addresses leased, ports allocated, /etc files decided), ``attach`` once
``runc create`` gave the container a pid (veths into its namespace), and ``release`` when its
runtime goes. A container's namespace is its own init's (no bind mounts to leak); its veths go
with it, so an exit costs a database update, plus one iptables-restore when it published ports.

An EnableIPv6 network with an IPv6 pool gets its gateway on the bridge and an address per
endpoint (leased as the IPv4 one). Legacy ``--link`` on the default bridge adds the linked
container to /etc/hosts and Docker's ALIAS_* variables to the environment (Plan.env).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

from ..errors import Conflict, Forbidden, InvalidArgument, NotFound, RuntimeFailure
from ..network import ipam
from ..network.firewall import BridgeRules, DnatRule, Firewall
from ..network.netlink import BridgeMissing, Netlink, enable_forwarding
from ..network.ports import allocate as allocate_ports
from ..network.ports import parse_bindings
from ..network.store import Endpoint, Network, NetworkStore, Port
from ..util import new_id, rfc3339_nano
from . import files

log = logging.getLogger(__name__)

PREDEFINED = ("bridge", "host", "none")
FIREWALL_CHECK_INTERVAL = 2.0  # seconds between checks that our iptables chains are there


@dataclass
class NetConfig:
    """The daemon's network options (dockyard daemon --bridge-name, --bip,
    --default-address-pool)."""
    bridge_name: str = "dockyard0"
    bip: str = "172.30.0.1/16"
    pool: str = "10.210.0.0/16"
    pool_size: int = 24


@dataclass
class Plan:
    """What a start needs from the network: the namespace and the /etc files."""
    mode: str  # bridge (own namespace with endpoints) | none | host | container
    netns_path: str | None = None  # container:NAME -> the other one's namespace
    hosts: bytes = b""
    resolv: bytes = b""
    endpoints: list[tuple[Endpoint, Network]] = field(default_factory=list)
    env: list[str] = field(default_factory=list)  # legacy links' variables


def network_mode(host: dict) -> str:
    mode = host.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


class NetworkService:
    def __init__(self, meta, events, containers):
        self.store = NetworkStore(meta)
        self.events = events
        self.containers = containers  # the ContainerService (records, names)
        self.config = NetConfig()
        self.netlink = Netlink()
        self.firewall: Firewall | None = None
        self.dns = None
        self._lock = threading.RLock()  # leases and port allocation
        self._nets: dict[str, Network] = {n.id: n for n in self.store.networks()}
        self.owner = ""
        self._fw_checked = 0.0  # monotonic time of the last firewall check

    # ---- daemon start ---------------------------------------------------------------------

    def configure(self, *, bridge_name: str | None = None, bip: str | None = None,
                  pool: str | None = None, owner: str = "") -> None:
        if bridge_name:
            if len(bridge_name) > 15:
                raise InvalidArgument(f"bridge name {bridge_name} is longer than 15 characters")
            self.config.bridge_name = bridge_name
        if bip:
            self.config.bip = bip
        if pool:
            base, _, size = pool.partition(",size=")
            self.config.pool = base.removeprefix("base=")
            self.config.pool_size = int(size or 24)
        self.owner = owner

    async def start(self) -> None:
        """Predefined networks, bridges, firewall chains and DNS responders; then the stale
        bridges of networks that are gone."""
        await asyncio.to_thread(self._start_blocking)
        from ..network.dns import DnsServers

        self.dns = DnsServers(self._resolve_name, files.host_resolv()[0])
        self.containers.networks = self
        for n in self._nets.values():
            if n.driver == "bridge" and not n.predefined:
                await self.dns.serve(n.gateway)

    def _start_blocking(self) -> None:
        self.netlink.warm()
        enable_forwarding()
        self.firewall = Firewall(self.config.bridge_name)
        by_name = {n.name: n for n in self._nets.values()}
        iface = ipaddress.ip_interface(self.config.bip)
        want = {
            "bridge": dict(driver="bridge", bridge=self.config.bridge_name,
                           subnet=str(iface.network), gateway=str(iface.ip)),
            "host": dict(driver="host"), "none": dict(driver="null"),
        }
        for name, attrs in want.items():
            n = by_name.get(name)
            if n is None:
                n = Network(id=new_id(), name=name, created=rfc3339_nano(), predefined=True,
                            **attrs)
                self.store.add_network(n)
            elif any(getattr(n, k) != v for k, v in attrs.items()):
                for k, v in attrs.items():
                    setattr(n, k, v)
                self.store.delete_network(n.id)
                self.store.add_network(n)
            self._nets[n.id] = n
        bridges = set()
        for n in self._nets.values():
            if n.driver == "bridge":
                self._ensure_bridge(n)
                bridges.add(n.bridge)
        for name in self.netlink.owned_links(self.owner):
            if name not in bridges:
                log.info("removing stale bridge %s", name)
                self.netlink.delete_link(name)
        try:
            self._apply_firewall()
        except RuntimeFailure as e:  # containers still run, with no NAT or published ports
            log.error("firewall rules not installed: %s", e)

    def _ensure_bridge(self, n: Network) -> None:
        net = ipaddress.ip_network(n.subnet)
        self.netlink.ensure_bridge(n.bridge, n.gateway, net.prefixlen, self.owner)
        if n.subnet6:
            self.netlink.add_address6(n.bridge, n.gateway6,
                                      ipaddress.ip_network(n.subnet6).prefixlen)

    def reconcile(self) -> None:
        """After the containers were restored: leases of containers that are not running
        (they stopped, or were removed, while the daemon was down) are freed."""
        known = {c.id: c for c in self.containers.repo.all()}
        with self._lock:
            for ep in self.store.endpoints():
                c = known.get(ep.container_id)
                if c is None:
                    self.store.forget_container(ep.container_id)
                elif ep.ip and not c.running:
                    self.store.release(ep.container_id)
            for p in self.store.ports():
                c = known.get(p.container_id)
                if c is None or not c.running:
                    self.store.release(p.container_id)
            self._apply_firewall()

    def close(self) -> None:
        if self.dns is not None:
            self.dns.close()
        self.netlink.close()

    # ---- lookup ---------------------------------------------------------------------------

    def list(self) -> list[Network]:
        return sorted(self._nets.values(), key=lambda n: n.created)

    def get(self, ref: str) -> Network:
        if not ref:
            raise NotFound("network  not found")
        n = self._nets.get(ref)
        if n:
            return n
        for n in self._nets.values():
            if n.name == ref:
                return n
        matches = [n for n in self._nets.values() if n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(f"network {ref} is ambiguous ({len(matches)} matches found "
                                  "on name)")
        raise NotFound(f"network {ref} not found")

    def endpoints_of(self, nid: str) -> list[Endpoint]:
        return self.store.endpoints(network_id=nid)

    def container_endpoints(self, cid: str) -> list[tuple[Endpoint, Network]]:
        return [(ep, self._nets[ep.network_id]) for ep in self.store.endpoints(container_id=cid)
                if ep.network_id in self._nets]

    # ---- create / remove ------------------------------------------------------------------

    async def create(self, body) -> Network:
        if not isinstance(body, dict):
            raise InvalidArgument("invalid JSON: the body must be a JSON object")
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument("network name must not be empty")
        if name in PREDEFINED:
            raise Forbidden(f"{name} is a pre-defined network and cannot be created")
        if any(n.name == name for n in self._nets.values()):
            raise Conflict(f"network with name {name} already exists")
        driver = body.get("Driver") or "bridge"
        if driver != "bridge":
            raise NotFound(f"plugin \"{driver}\" not found")
        for key in ("Labels", "Options"):
            if body.get(key) is not None and not isinstance(body[key], dict):
                raise InvalidArgument(f"{key} must be an object")
        ipam_cfg = body.get("IPAM") or {}
        if not isinstance(ipam_cfg, dict):
            raise InvalidArgument("IPAM must be an object")
        configs = ipam_cfg.get("Config") or []
        if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
            raise InvalidArgument("IPAM.Config must be a list of objects")
        if ipam_cfg.get("Options") is not None and not isinstance(ipam_cfg["Options"], dict):
            raise InvalidArgument("IPAM.Options must be an object")
        v6 = [c for c in configs if ":" in str(c.get("Subnet") or "")]
        v4 = [c for c in configs if c not in v6]
        if len(v4) > 1 or len(v6) > 1:
            raise InvalidArgument("only one IPv4 and one IPv6 subnet per network are supported")
        if body.get("EnableIPv6") and not v6:  # no default IPv6 pools (as dockerd's, a 404)
            raise NotFound("could not find an available, non-overlapping IPv6 address pool "
                           "among the defaults to assign to the network")
        cfg = v4[0] if v4 else {}
        n = await asyncio.to_thread(self._create_blocking, name, cfg, body,
                                    v6[0] if v6 else None)
        if self.dns is not None:
            await self.dns.serve(n.gateway)
        self.events.emit("network", "create", n.id, {"name": n.name, "type": n.driver})
        return n

    def _create_blocking(self, name: str, cfg: dict, body: dict,
                         cfg6: dict | None = None) -> Network:
        with self._lock:
            taken = [ipaddress.ip_network(n.subnet) for n in self._nets.values() if n.subnet]
            if cfg.get("Subnet"):
                subnet = ipam.parse_subnet(str(cfg["Subnet"]))
                for other in self._nets.values():
                    if other.subnet and ipaddress.ip_network(other.subnet).overlaps(subnet):
                        raise Forbidden("Pool overlaps with other one on this address space")
            else:
                if cfg.get("Gateway") or cfg.get("IPRange"):
                    raise InvalidArgument("a gateway or an ip-range needs a subnet")
                subnet = ipam.pick_subnet(ipaddress.ip_network(self.config.pool),
                                          self.config.pool_size,
                                          taken + self.netlink.host_routes())
            gw, rng = ipam.check_config(subnet, str(cfg.get("Gateway") or ""),
                                        str(cfg.get("IPRange") or ""))
            _check_aux(cfg.get("AuxiliaryAddresses"), subnet)
            ipv6 = bool(body.get("EnableIPv6"))
            subnet6 = gw6 = rng6 = None
            if cfg6 is not None and ipv6:
                subnet6 = ipam.parse_subnet6(str(cfg6["Subnet"]))
                gw6, rng6 = ipam.check_config6(subnet6, str(cfg6.get("Gateway") or ""),
                                               str(cfg6.get("IPRange") or ""))
            asked = [_ipam_echo(c) for c in ([cfg] if cfg else []) + ([cfg6] if cfg6 else [])]
            if not cfg:
                asked.insert(0, {"Subnet": str(subnet), "Gateway": str(gw)})
            nid = new_id()
            n = Network(id=nid, name=name, driver="bridge", created=rfc3339_nano(),
                        ipv6=ipv6, subnet6=str(subnet6 or ""), gateway6=str(gw6 or ""),
                        ip_range6=str(rng6 or ""), ipam_config=asked,
                        ipam_options=(body.get("IPAM") or {}).get("Options"),
                        bridge=(body.get("Options") or {}).get(
                            "com.docker.network.bridge.name") or f"br-{nid[:12]}",
                        subnet=str(subnet), gateway=str(gw), ip_range=str(rng or ""),
                        internal=bool(body.get("Internal")),
                        attachable=bool(body.get("Attachable")),
                        labels=dict(body.get("Labels") or {}),
                        options=dict(body.get("Options") or {}))
            if len(n.bridge) > 15:
                raise InvalidArgument(f"bridge name {n.bridge} is longer than 15 characters")
            self._ensure_bridge(n)
            try:
                self.store.add_network(n)
                self._nets[n.id] = n
                self._apply_firewall()
            except Exception:
                self._nets.pop(n.id, None)
                self.store.delete_network(n.id)
                self.netlink.delete_link(n.bridge)
                raise
            return n

    async def remove(self, ref: str) -> None:
        n = self.get(ref)
        if n.predefined:
            raise Forbidden(f"{n.name} is a pre-defined network and cannot be removed")
        if self._active_endpoints(n.id):
            raise Forbidden(f"error while removing network: network {n.name} id {n.id} has "
                            "active endpoints")
        await asyncio.to_thread(self._remove_blocking, n)
        if self.dns is not None:
            self.dns.stop(n.gateway)
        self.events.emit("network", "destroy", n.id, {"name": n.name, "type": n.driver})

    def _active_endpoints(self, nid: str) -> list[Endpoint]:
        """The endpoints of containers that still exist: a removed container's rows may
        outlive its record for a moment (its disk cleanup runs after ``wait removed``
        answered), and must not keep its network from going."""
        return [ep for ep in self.store.endpoints(network_id=nid)
                if self.containers.repo.has(ep.container_id)]

    def _remove_blocking(self, n: Network) -> None:
        with self._lock:
            self._nets.pop(n.id, None)
            self.store.delete_network(n.id)
            self._apply_firewall()
            self.netlink.delete_link(n.bridge)

    async def prune(self, keep) -> list[str]:
        """Remove unused user-defined networks for which ``keep(n)`` is False."""
        gone = []
        for n in list(self._nets.values()):
            if n.predefined or keep(n) or self._active_endpoints(n.id):
                continue
            try:
                await self.remove(n.id)
                gone.append(n.name)
            except (Forbidden, NotFound):
                pass
        return gone

    # ---- container create -----------------------------------------------------------------

    def validate(self, config: dict, host: dict, networking: dict | None) -> list[tuple[str, dict]]:
        """Check the network parts of a create body; returns the (network id, endpoint
        config) to record. Raises with Docker's wording."""
        mode = network_mode(host)
        eps = (networking or {}).get("EndpointsConfig") if isinstance(networking, dict) else None
        if eps is not None and not isinstance(eps, dict):
            raise InvalidArgument("NetworkingConfig.EndpointsConfig must be an object")
        eps = eps or {}
        for name, cfg in eps.items():
            if cfg is not None and not isinstance(cfg, dict):
                raise InvalidArgument(f"invalid endpoint settings for network {name}")
        for ip in host.get("Dns") or []:
            try:
                ipaddress.ip_address(ip)
            except (ValueError, TypeError):
                raise InvalidArgument(f"IP address is not correctly formatted: {ip}") from None
        for entry in host.get("ExtraHosts") or []:
            parse_extra_host(entry)
        parse_bindings(host.get("PortBindings"), config.get("ExposedPorts"),
                       bool(host.get("PublishAllPorts")))
        if mode.startswith("container:"):
            if host.get("PortBindings") or host.get("PublishAllPorts"):
                raise InvalidArgument("conflicting options: port publishing and the container "
                                      "type network mode")
            if config.get("Hostname"):
                raise InvalidArgument("conflicting options: hostname and the network mode")
            if host.get("Dns") or host.get("ExtraHosts"):
                raise InvalidArgument("conflicting options: dns and the network mode")
            self.containers.get(mode.split(":", 1)[1])
            return []
        if mode in ("host", "none"):
            return []  # Docker ignores published ports there
        n = self._get_for_create(mode)
        out = [(n.id, {})]
        for name, cfg in eps.items():
            cfg = cfg or {}
            target = self._get_for_create("bridge" if name == "default" else name)
            ipam_cfg = cfg.get("IPAMConfig") or {}
            if not isinstance(ipam_cfg, dict):
                raise InvalidArgument("IPAMConfig must be an object")
            ipv4 = ipam_cfg.get("IPv4Address") or ""
            ipv6 = ipam_cfg.get("IPv6Address") or ""
            if target.predefined and ((ipv4 or ipv6) and target.name == "bridge"):
                raise InvalidArgument("user specified IP address is supported on user defined "
                                      "networks only")
            if target.predefined and cfg.get("Aliases"):
                raise InvalidArgument("network-scoped alias is supported only for containers "
                                      "in user defined networks")
            if target.driver != "bridge" and target.id != n.id:
                raise InvalidArgument(f"container cannot be connected to network {name} and "
                                      f"{n.name}")
            if ipv4:
                subnet = ipaddress.ip_network(target.subnet)
                ipam.check_requested(ipv4, subnet, ipaddress.ip_address(target.gateway), [])
            if ipv6:
                if not target.subnet6:
                    raise InvalidArgument("invalid IPv6 address: user specified IP address is "
                                          "supported only when connecting to networks with "
                                          "user configured subnets")
                ipam.check_requested6(ipv6, ipaddress.IPv6Network(target.subnet6),
                                      ipaddress.IPv6Address(target.gateway6), [])
            aliases = cfg.get("Aliases") or []
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                raise InvalidArgument("Aliases must be a list of strings")
            clean = {"Aliases": aliases or None,
                     "IPAMConfig": _endpoint_ipam(ipam_cfg) or None,
                     **_endpoint_extras(cfg)}
            if target.id == n.id:
                out[0] = (n.id, clean)
            else:
                out.append((target.id, clean))
        if config.get("MacAddress"):
            mac = ipam.parse_mac(config["MacAddress"])
            if not out[0][1].get("MacAddress"):
                out[0] = (out[0][0], dict(out[0][1], MacAddress=mac))
        if host.get("Links") is not None and not isinstance(host["Links"], list):
            raise InvalidArgument("HostConfig.Links must be a list of strings")
        if n.name == "bridge" and n.predefined:
            for link in host.get("Links") or []:
                name, _alias = parse_link(link)
                try:
                    self.containers.get(name)
                except NotFound:
                    raise InvalidArgument(f"could not get container for {name}: No such "
                                          f"container: {name}") from None
        return out

    def _get_for_create(self, ref: str) -> Network:
        """A missing network is the create's bad argument (not a missing image to pull)."""
        try:
            return self.get(ref)
        except NotFound as e:
            raise InvalidArgument(str(e)) from None

    def created(self, cid: str, attachments: list[tuple[str, dict]]) -> None:
        for nid, cfg in attachments:
            self.store.add_endpoint(Endpoint(container_id=cid, network_id=nid, config=cfg))

    def removed(self, cid: str) -> None:
        with self._lock:
            had_ports = bool(self.store.ports(cid))
            self.store.forget_container(cid)
            if had_ports:
                self._apply_firewall()

    # ---- start / exit ---------------------------------------------------------------------

    def plan(self, c) -> Plan:
        """Lease addresses and publish ports for a start; decide the /etc files. Blocking."""
        host = c.host_config
        mode = network_mode(host)
        hostname = c.config.get("Hostname") or c.id[:12]
        domain = c.config.get("Domainname") or ""
        extra = self._extra_hosts(host)
        dns = list(host.get("Dns") or []) or None
        search = list(host.get("DnsSearch") or []) or None
        options = list(host.get("DnsOptions") or []) or None
        if mode == "host":
            return Plan("host", hosts=_host_hosts(extra),
                        resolv=files.resolv_conf(dns, search, options))
        if mode.startswith("container:"):
            other = self.containers.get(mode.split(":", 1)[1])
            if not other.running or not other.state.pid:
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            d = self.containers.container_dir(other.id)
            return Plan("container", netns_path=f"/proc/{other.state.pid}/ns/net",
                        hosts=_read(os.path.join(d, "hosts")),
                        resolv=_read(os.path.join(d, "resolv.conf")))
        if mode == "none":
            return Plan("none", hosts=files.hosts_file(hostname, domain, None, extra),
                        resolv=files.resolv_conf(dns, search, options))
        env: list[str] = []
        if any(n.predefined and n.name == "bridge" for _, n in self.container_endpoints(c.id)):
            env = self._legacy_links(c, extra)  # before any lease: it may refuse the start
        with self._lock:
            leased = self._lease_all(c)
            try:
                self._publish(c, leased)
            except Exception:
                self.store.release(c.id)
                raise
        addrs = [ep.ip for ep, _ in leased]
        user = next((n for _, n in leased if not n.predefined), None)
        resolv_servers = dns or ([user.gateway] if user is not None else None)
        return Plan("bridge", hosts=files.hosts_file(hostname, domain, addrs[:1], extra),
                    resolv=files.resolv_conf(resolv_servers, search, options), endpoints=leased,
                    env=env)

    def _legacy_links(self, c, extra: list[tuple[str, str]]) -> list[str]:
        """``--link name:alias`` on the default bridge: the linked container's address in
        /etc/hosts (appended to ``extra``) and Docker's link variables (returned)."""
        env: list[str] = []
        parent = getattr(c, "name", "") or c.id[:12]
        for link in c.host_config.get("Links") or []:
            name, alias = parse_link(link)
            try:
                child = self.containers.get(name)
            except NotFound:
                continue
            if not child.running:
                raise RuntimeFailure(f"Cannot link to a non running container: /{child.name} "
                                     f"AS /{parent.lstrip('/')}/{alias}")
            ip = next((ep.ip for ep, n in self.container_endpoints(child.id)
                       if ep.ip and n.predefined and n.name == "bridge"), None)
            if ip is None:
                raise RuntimeFailure(f"Cannot link to /{child.name}, as it does not belong to "
                                     "the default network")
            names = [alias, child.config.get("Hostname") or child.id[:12]]
            if child.name != alias:
                names.append(child.name)
            extra.append((" ".join(dict.fromkeys(names)), ip))
            env += link_env(alias, f"/{parent.lstrip('/')}/{alias}", ip,
                            child.config.get("ExposedPorts") or {},
                            child.config.get("Env") or [])
        return env

    def _extra_hosts(self, host: dict) -> list[tuple[str, str]]:
        """--add-host entries; ``host-gateway`` is the default bridge's gateway."""
        gw = str(ipaddress.ip_interface(self.config.bip).ip)
        return [(name, gw if ip == "host-gateway" else ip)
                for name, ip in map(parse_extra_host, host.get("ExtraHosts") or [])]

    def _lease_all(self, c) -> list[tuple[Endpoint, Network]]:
        out = []
        for i, (ep, n) in enumerate(self.container_endpoints(c.id)):
            if n.driver != "bridge":
                continue
            self._lease(ep, n, f"eth{i}")
            out.append((ep, n))
        return out

    def _lease(self, ep: Endpoint, n: Network, ifname: str) -> None:
        subnet = ipaddress.ip_network(n.subnet)
        gw = ipaddress.ip_address(n.gateway)
        used = [u for u in self.store.used_ips(n.id) if u != ep.ip] + _aux_addresses(n)
        want = ((ep.config.get("IPAMConfig") or {}).get("IPv4Address") or "")
        if want:
            addr = ipam.check_requested(want, subnet, gw, used)
        else:
            addr = ipam.allocate(subnet, gw, ipaddress.ip_network(n.ip_range) if n.ip_range
                                 else None, used, n.name)
        ep.ip6 = None
        if n.subnet6:
            subnet6 = ipaddress.IPv6Network(n.subnet6)
            gw6 = ipaddress.IPv6Address(n.gateway6)
            used6 = [u for u in self.store.used_ips6(n.id) if u != ep.ip6]
            want6 = ((ep.config.get("IPAMConfig") or {}).get("IPv6Address") or "")
            ep.ip6 = str(ipam.check_requested6(want6, subnet6, gw6, used6) if want6 else
                         ipam.allocate6(subnet6, gw6, ipaddress.IPv6Network(n.ip_range6)
                                        if n.ip_range6 else None, used6, n.name))
        ep.ip = str(addr)
        ep.mac = ep.config.get("MacAddress") or ipam.mac_for(addr)
        ep.ifname = ifname
        ep.host_ifname = "vd" + secrets.token_hex(4)
        ep.endpoint_id = new_id()
        self.store.lease(ep)

    def _publish(self, c, leased: list[tuple[Endpoint, Network]]) -> None:
        bindings = parse_bindings(c.host_config.get("PortBindings"),
                                  c.config.get("ExposedPorts"),
                                  bool(c.host_config.get("PublishAllPorts")))
        if not bindings or not leased:
            return
        taken = [(p.proto, p.host_ip, p.host_port) for p in self.store.ports()
                 if p.container_id != c.id]
        chosen = allocate_ports(bindings, taken)
        self.store.set_ports(c.id, [Port(c.id, b.proto, b.container_port, b.host_ip, port)
                                    for b, port in chosen])
        if self.firewall is not None and not self.firewall.intact():
            # Published ports need the chains now, not after a throttled check.
            log.warning("iptables chains of the daemon were removed behind it; installing "
                        "them again")
            self.firewall.invalidate()
        self._apply_firewall()

    def attach(self, c, pid: int, plan: Plan) -> None:
        """Veths into the new container's namespace (after runc create, before its start).
        A bridge someone deleted is made again first; the firewall is checked (throttled,
        off the start path) for chains someone removed."""
        gateway_set = False
        for ep, n in plan.endpoints:
            gw = None
            if not n.internal and not gateway_set:
                gw, gateway_set = n.gateway, True
            args = (pid, n.bridge, ep.host_ifname, ep.ifname, ep.mac, ep.ip,
                    ipaddress.ip_network(n.subnet).prefixlen, gw)
            try:
                self.netlink.attach(*args)
            except BridgeMissing:
                self._repair_bridge(n)
                self.netlink.attach(*args)
            self._attach6(pid, ep, n, gw is not None)
        self._check_firewall_soon()

    def _attach6(self, pid: int, ep: Endpoint, n: Network, default_route: bool) -> None:
        if ep.ip6 and ep.ifname:
            self.netlink.attach6(pid, ep.ifname, ep.ip6,
                                 ipaddress.ip_network(n.subnet6).prefixlen,
                                 n.gateway6 if default_route else None)

    def _repair_bridge(self, n: Network) -> None:
        """Create the deleted bridge of ``n`` again (address, up, route_localnet) and put the
        veths of its running containers back on it."""
        with self._lock:
            if self.netlink.index(n.bridge) is not None:  # another start repaired it
                return
            log.warning("bridge %s of network %s was deleted behind the daemon; creating it "
                        "again", n.bridge, n.name)
            self._ensure_bridge(n)
            back = [ep.host_ifname for ep in self.store.endpoints(network_id=n.id)
                    if ep.host_ifname]
            if back:
                self.netlink.enslave(n.bridge, back)
        self._repair_firewall()

    def _check_firewall_soon(self) -> None:
        """At most every FIREWALL_CHECK_INTERVAL seconds, check the chains in a thread of
        its own: an iptables-save costs a few ms that a start should not wait for."""
        now = time.monotonic()
        if self.firewall is None or now - self._fw_checked < FIREWALL_CHECK_INTERVAL:
            return
        self._fw_checked = now
        threading.Thread(target=self._repair_firewall, name="firewall-check",
                         daemon=True).start()

    def _repair_firewall(self) -> None:
        """Install the chains and jumps again when someone removed them."""
        if self.firewall is None or self.firewall.intact():
            return
        log.warning("iptables chains of the daemon were removed behind it; installing them "
                    "again")
        with self._lock:
            self.firewall.invalidate()
            try:
                self._apply_firewall()
            except RuntimeFailure as e:
                log.error("firewall rules not installed: %s", e)

    def release(self, cid: str) -> None:
        """The container's runtime is gone: its leases and ports are free again (its veths
        went with its namespace)."""
        with self._lock:
            had_ports = bool(self.store.ports(cid))
            self.store.release(cid)
            if had_ports:
                self._apply_firewall()

    # ---- connect / disconnect -------------------------------------------------------------

    async def connect(self, ref: str, container: str, endpoint: dict | None) -> None:
        n = self.get(ref)
        c = self.containers.get(container)
        if n.driver != "bridge":
            raise Forbidden("container cannot be disconnected from host network or connected "
                            "to host network" if n.driver == "host" else
                            f"container cannot be connected to network {n.name}")
        mode = network_mode(c.host_config)
        if mode in ("host", "none") or mode.startswith("container:"):
            raise Forbidden("container sharing network namespace with another container or "
                            "host cannot be connected to any other network")
        if any(ep.network_id == n.id for ep in self.store.endpoints(container_id=c.id)):
            raise Forbidden(f"endpoint with name {c.name} already exists in network {n.name}")
        cfg = self.validate(c.config, {"NetworkMode": n.id},
                            {"EndpointsConfig": {n.id: endpoint or {}}})[0][1]
        await self._discard_prepared(c)
        ep = Endpoint(container_id=c.id, network_id=n.id, config=cfg)
        self.store.add_endpoint(ep)
        if c.state.status in ("running", "paused") and c.state.pid:
            try:
                await asyncio.to_thread(self._connect_live, c, ep, n)
            except Exception:
                self.store.delete_endpoint(c.id, n.id)
                raise
        self.events.emit("network", "connect", n.id,
                         {"name": n.name, "type": n.driver, "container": c.id})

    def _connect_live(self, c, ep: Endpoint, n: Network) -> None:
        with self._lock:
            index = len(self.store.endpoints(container_id=c.id)) - 1
            used = {e.ifname for e, _ in self.container_endpoints(c.id) if e.ifname}
            ifname = next(f"eth{i}" for i in range(index, index + 64) if f"eth{i}" not in used)
            self._lease(ep, n, ifname)
        has_gw = any(e.ip and not nn.internal for e, nn in self.container_endpoints(c.id)
                     if e.network_id != n.id)
        try:
            self.netlink.attach(c.state.pid, n.bridge, ep.host_ifname, ep.ifname, ep.mac,
                                ep.ip, ipaddress.ip_network(n.subnet).prefixlen,
                                None if has_gw or n.internal else n.gateway)
            self._attach6(c.state.pid, ep, n, not (has_gw or n.internal))
        except Exception:
            self.netlink.detach(ep.host_ifname)
            self.store.release(c.id, n.id)
            raise
        self._rewrite_hosts(c)
        if not c.host_config.get("Dns") and not any(
                not nn.predefined for e, nn in self.container_endpoints(c.id)
                if e.network_id != n.id):
            # Its first user-defined network: names resolve through the embedded DNS now.
            try:
                files.write_in_place(
                    os.path.join(self.containers.container_dir(c.id), "resolv.conf"),
                    files.resolv_conf([n.gateway], list(c.host_config.get("DnsSearch") or [])
                                      or None,
                                      list(c.host_config.get("DnsOptions") or []) or None))
            except OSError as e:
                log.warning("cannot update /etc/resolv.conf of %s: %s", c.id[:12], e)

    async def disconnect(self, ref: str, container: str, force: bool = False) -> None:
        n = self.get(ref)
        try:
            c = self.containers.get(container)
        except NotFound:
            if not force:
                raise
            return
        eps = [ep for ep in self.store.endpoints(container_id=c.id) if ep.network_id == n.id]
        if not eps:
            raise Forbidden(f"container {c.id} is not connected to network {n.name}")
        if n.driver == "host":
            raise Forbidden("container cannot be disconnected from host network or connected "
                            "to host network")
        await self._discard_prepared(c)
        ep = self.store.endpoints(container_id=c.id)
        ep = next((e for e in ep if e.network_id == n.id), eps[0])

        def blocking() -> None:
            with self._lock:
                if ep.host_ifname:
                    self.netlink.detach(ep.host_ifname)
                self.store.delete_endpoint(c.id, n.id)
                self._apply_firewall()
            if c.running:
                self._rewrite_hosts(c)

        await asyncio.to_thread(blocking)
        self.events.emit("network", "disconnect", n.id,
                         {"name": n.name, "type": n.driver, "container": c.id})

    async def _discard_prepared(self, c) -> None:
        """A runtime created ahead of the start holds the endpoints of the create: a change
        before the start drops it (the start then attaches what the records say)."""
        if not c.running:
            discard = getattr(self.containers, "discard_prepared", None)
            if discard is not None:
                await discard(c.id)

    def _rewrite_hosts(self, c) -> None:
        path = os.path.join(self.containers.container_dir(c.id), "hosts")
        addrs = [ep.ip for ep, _ in self.container_endpoints(c.id) if ep.ip]
        extra = self._extra_hosts(c.host_config)
        try:
            files.write_in_place(path, files.hosts_file(
                c.config.get("Hostname") or c.id[:12], c.config.get("Domainname") or "",
                addrs[:1] or None, extra))
        except OSError as e:
            log.warning("cannot update /etc/hosts of %s: %s", c.id[:12], e)

    # ---- published ports of a running container (beyond Docker) -----------------------------

    async def update_ports(self, container: str, add: dict | None, remove: dict | None) -> None:
        """Add or remove published ports; live when the container runs."""
        c = self.containers.get(container)
        mode = network_mode(c.host_config)
        if mode in ("host", "none") or mode.startswith("container:"):
            raise InvalidArgument(f"cannot publish ports of a container in network mode {mode}")
        bindings = {k: list(v or []) for k, v in (c.host_config.get("PortBindings") or {}).items()}
        for key, binds in (add or {}).items():
            parse_bindings({key: binds})
            bindings.setdefault(key, []).extend(binds or [{}])
        for key, binds in (remove or {}).items():
            parse_bindings({key: binds})
            if key not in bindings:
                raise NotFound(f"port {key} is not published")
            if not binds:
                bindings.pop(key)
            else:
                kept = [b for b in bindings[key] if not any(
                    str(b.get("HostPort") or "") == str(r.get("HostPort") or "") and
                    (b.get("HostIp") or "") == (r.get("HostIp") or "") for r in binds)]
                if len(kept) == len(bindings[key]):
                    raise NotFound(f"port {key} is not published on "
                                   f"{binds[0].get('HostIp') or '0.0.0.0'}:"
                                   f"{binds[0].get('HostPort')}")
                bindings[key] = kept
                if not kept:
                    bindings.pop(key)
        host = dict(c.host_config, PortBindings=bindings)
        old = c.host_config
        await self._discard_prepared(c)

        def blocking() -> None:
            with self._lock:
                c.host_config = host
                leased = [(ep, n) for ep, n in self.container_endpoints(c.id) if ep.ip]
                if c.running and leased:
                    previous = self.store.ports(c.id)
                    try:
                        self.store.set_ports(c.id, [])
                        self._publish(c, leased[:1])
                        self._apply_firewall()
                    except Exception:
                        c.host_config = old
                        self.store.set_ports(c.id, previous)
                        self._apply_firewall()
                        raise
                self.containers.repo.save(c)

        await asyncio.to_thread(blocking)

    # ---- firewall -------------------------------------------------------------------------

    def _apply_firewall(self) -> None:
        if self.firewall is None:
            return
        bridges = [BridgeRules(n.bridge, n.subnet, n.internal)
                   for n in sorted(self._nets.values(), key=lambda n: n.created)
                   if n.driver == "bridge"]
        primary: dict[str, str] = {}
        for ep in self.store.endpoints():
            if ep.ip and ep.container_id not in primary:
                primary[ep.container_id] = ep.ip
        dnat = [DnatRule(p.proto, p.host_ip, p.host_port, primary[p.container_id],
                         p.container_port)
                for p in self.store.ports() if p.container_id in primary]
        self.firewall.apply(bridges, dnat)

    # ---- views for the API ----------------------------------------------------------------

    def counters(self, cid: str) -> dict:
        """Docker's stats ``networks``: per interface of the container, read on the host
        peers of its veths (no namespace entered)."""
        out = {}
        for ep, _n in self.container_endpoints(cid):
            if ep.ip and ep.host_ifname and ep.ifname:
                val = self.netlink.counters(ep.host_ifname)
                if val is not None:
                    out[ep.ifname] = val
        return out

    def snapshot(self) -> dict:
        """Every container's endpoints and ports in two queries (container listings)."""
        eps: dict[str, list] = {}
        for ep in self.store.endpoints():
            n = self._nets.get(ep.network_id)
            if n is not None:
                eps.setdefault(ep.container_id, []).append((ep, n))
        ports: dict[str, list[Port]] = {}
        for p in self.store.ports():
            ports.setdefault(p.container_id, []).append(p)
        return {"endpoints": eps, "ports": ports}

    def ports_of(self, cid: str) -> list[Port]:
        return self.store.ports(cid)

    def _resolve_name(self, source: str, name: str) -> list[str] | None:
        """Embedded DNS: addresses of ``name`` among the networks of the container at
        ``source``; None when the name is not one of ours."""
        endpoints = [ep for ep in self.store.endpoints() if ep.ip]
        askers = {ep.container_id for ep in endpoints if ep.ip == source}
        asker = {ep.network_id for ep in endpoints if ep.container_id in askers}
        if not asker:
            return None
        short = name
        for n in self._nets.values():
            if n.id in asker and name.endswith("." + n.name):
                short = name[: -len(n.name) - 1]
        found = []
        for ep in endpoints:
            if ep.network_id not in asker or self._nets.get(ep.network_id) is None or \
                    self._nets[ep.network_id].predefined:
                continue
            try:
                c = self.containers.repo.get(ep.container_id)
            except NotFound:
                continue
            names = {c.name.lower(), c.id[:12]} | {a.lower() for a in
                                                   ep.config.get("Aliases") or []}
            if short in names and ep.ip not in found:
                found.append(ep.ip)
                if ep.ip6:  # AAAA answers (dns.of_type picks per query type)
                    found.append(ep.ip6)
        if not found:  # an endpoint's Links: "name:alias" makes alias resolve as name
            for ep in endpoints:
                if ep.container_id in askers:
                    for link in ep.config.get("Links") or []:
                        target, alias = parse_link(link)
                        if alias.lower() == short and target.lower() != short:
                            return self._resolve_name(source, target.lower())
        return found or None

    # ---- legacy links -----------------------------------------------------------------------

    def linked_container(self, parent: str, alias: str) -> str:
        """The id of the container that ``parent/alias`` names (dockerd's link names)."""
        try:
            c = self.containers.get(parent)
        except NotFound:
            raise NotFound(f"No such container: {parent}/{alias}") from None
        for link in c.host_config.get("Links") or []:
            name, a = parse_link(link)
            if a == alias:
                try:
                    return self.containers.get(name).id
                except NotFound:
                    break
        raise NotFound(f"No such container: {parent}/{alias}")

    def remove_link(self, parent: str, alias: str) -> None:
        """``DELETE /containers/{parent}/{alias}?link=1``: forget a legacy link."""
        self.linked_container(parent, alias)  # dockerd's 404 wording for an unknown one
        c = self.containers.get(parent)
        links = list(c.host_config.get("Links") or [])
        kept = [v for v in links if parse_link(v)[1] != alias]
        if len(kept) == len(links):
            raise NotFound(f"No such container: {parent}/{alias}")
        c.host_config = dict(c.host_config, Links=kept or None)
        self.containers.repo.save(c)


def _endpoint_ipam(cfg: dict) -> dict:
    """The IPAMConfig of an endpoint as asked (inspect echoes it)."""
    out = {}
    for key in ("IPv4Address", "IPv6Address"):
        if cfg.get(key):
            if not isinstance(cfg[key], str):
                raise InvalidArgument(f"IPAMConfig.{key} must be a string")
            out[key] = cfg[key]
    lls = cfg.get("LinkLocalIPs")
    if lls:
        if not isinstance(lls, list) or not all(isinstance(a, str) for a in lls):
            raise InvalidArgument("IPAMConfig.LinkLocalIPs must be a list of strings")
        for a in lls:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise InvalidArgument(f"invalid link-local IP address: {a}") from None
        out["LinkLocalIPs"] = list(lls)
    return out


def _endpoint_extras(cfg: dict) -> dict:
    """Links, DriverOpts and MacAddress of an endpoint config, checked."""
    out: dict = {}
    links = cfg.get("Links")
    if links:
        if not isinstance(links, list):
            raise InvalidArgument("Links must be a list of strings")
        out["Links"] = [":".join(parse_link(v)) for v in links]
    opts = cfg.get("DriverOpts")
    if opts:
        if not isinstance(opts, dict) or not all(isinstance(v, str) for v in opts.values()):
            raise InvalidArgument("DriverOpts must be an object of strings")
        out["DriverOpts"] = dict(opts)
    if cfg.get("MacAddress"):
        out["MacAddress"] = ipam.parse_mac(cfg["MacAddress"])
    return out


def link_env(alias: str, path: str, ip: str, exposed: dict, child_env: list) -> list[str]:
    """Docker's variables of a legacy link: ALIAS_NAME, ALIAS_PORT[_N_PROTO[_ADDR|_PORT|
    _PROTO]] per exposed port, and ALIAS_ENV_X for the linked container's own variables."""
    prefix = alias.upper().replace("-", "_")
    env = [f"{prefix}_NAME={path}"]
    ports = []
    for key in exposed:
        port, _, proto = str(key).partition("/")
        if port.isdigit():
            ports.append((int(port), proto or "tcp"))
    ports.sort()
    if ports:
        env.append(f"{prefix}_PORT={ports[0][1]}://{ip}:{ports[0][0]}")
    for port, proto in ports:
        key = f"{prefix}_PORT_{port}_{proto.upper()}"
        env += [f"{key}={proto}://{ip}:{port}", f"{key}_ADDR={ip}", f"{key}_PORT={port}",
                f"{key}_PROTO={proto}"]
    for item in child_env:
        name, sep, val = str(item).partition("=")
        if sep and name not in ("HOME", "PATH"):
            env.append(f"{prefix}_ENV_{name}={val}")
    return env


def parse_link(value) -> tuple[str, str]:
    """``name:alias`` (or ``name``, or dockerd's ``/name:/parent/alias``) of a link."""
    if not isinstance(value, str) or not value.strip(":/"):
        raise InvalidArgument(f"invalid link: {value!r}")
    name, _, alias = value.partition(":")
    name = name.lstrip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else name
    if not name or not alias:
        raise InvalidArgument(f"invalid link: {value}")
    return name, alias


def _check_aux(aux, subnet) -> None:
    """AuxiliaryAddresses: names to IPv4 addresses of the subnet (reserved, never leased)."""
    if aux is None:
        return
    if not isinstance(aux, dict) or not all(isinstance(v, str) for v in aux.values()):
        raise InvalidArgument("AuxiliaryAddresses must be an object of IP addresses")
    for ip in aux.values():
        if ipam.parse_address(ip, "auxiliary address") not in subnet:
            raise InvalidArgument(f"no matching subnet for aux-address {ip}")


def _aux_addresses(n: Network) -> list[str]:
    return [ip for cfg in n.ipam_config or [] if ":" not in cfg.get("Subnet", "")
            for ip in (cfg.get("AuxiliaryAddresses") or {}).values()]


def _ipam_echo(cfg: dict) -> dict:
    """One IPAM pool as inspect shows it: the keys that were given, in Docker's order."""
    out = {}
    for key in ("Subnet", "IPRange", "Gateway", "AuxiliaryAddresses"):
        if cfg.get(key):
            out[key] = cfg[key]
    return out


def parse_extra_host(entry) -> tuple[str, str]:
    """``name:ip`` (or ``name=ip``, docker 28) of --add-host."""
    if not isinstance(entry, str):
        raise InvalidArgument(f"invalid extra host: {entry!r}")
    sep = "=" if "=" in entry else ":"
    name, _, ip = entry.partition(sep)
    if not name or not ip:
        raise InvalidArgument(f"bad format for add-host: {entry}")
    ip = ip.strip("[]")
    if ip == "host-gateway":
        return name, ip
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidArgument(f"invalid IP address in add-host: {ip}") from None
    return name, ip


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _host_hosts(extra: list[tuple[str, str]]) -> bytes:
    data = _read("/etc/hosts") or b"127.0.0.1\tlocalhost\n"
    for name, ip in extra:
        data += f"{ip}\t{name}\n".encode()
    return data


def host_hostname() -> str:
    return socket.gethostname()
