"""Networks, endpoint leases and published ports in the metadata database.

The network component owns these tables (MetaDB.migrate). An endpoint row is a container's
attachment to a network; its address is a lease, set while the container runs and cleared at
its exit, so a restarted daemon can tell the leases of running containers from stale ones.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

MIGRATIONS = [
    "CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, record TEXT NOT NULL)",
    "CREATE TABLE net_endpoints (container_id TEXT NOT NULL, network_id TEXT NOT NULL,"
    " config TEXT NOT NULL, ip TEXT, mac TEXT, ifname TEXT, host_ifname TEXT,"
    " endpoint_id TEXT, PRIMARY KEY (container_id, network_id))",
    "CREATE INDEX net_endpoints_net ON net_endpoints(network_id)",
    "CREATE TABLE net_ports (container_id TEXT NOT NULL, proto TEXT NOT NULL,"
    " container_port INTEGER NOT NULL, host_ip TEXT NOT NULL, host_port INTEGER NOT NULL,"
    " PRIMARY KEY (container_id, proto, container_port, host_ip, host_port))",
    "ALTER TABLE net_endpoints ADD COLUMN ip6 TEXT",
]


@dataclass
class Network:
    id: str
    name: str
    driver: str  # bridge | host | null
    created: str
    bridge: str = ""  # the Linux bridge device
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    internal: bool = False
    attachable: bool = False
    labels: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    predefined: bool = False  # bridge, host, none: never removed
    ipv6: bool = False  # EnableIPv6
    subnet6: str = ""
    gateway6: str = ""
    ip_range6: str = ""
    # IPAM as asked, echoed by inspect as Docker does (None: from before this field)
    ipam_config: list | None = None
    ipam_options: dict | None = None

    @property
    def user_defined(self) -> bool:
        return not self.predefined


@dataclass
class Endpoint:
    container_id: str
    network_id: str
    config: dict  # Docker's EndpointSettings as asked: Aliases, IPAMConfig, ...
    ip: str | None = None
    mac: str | None = None
    ifname: str | None = None
    host_ifname: str | None = None
    endpoint_id: str | None = None
    ip6: str | None = None


@dataclass
class Port:
    container_id: str
    proto: str
    container_port: int
    host_ip: str
    host_port: int


class NetworkStore:
    def __init__(self, meta):
        self.meta = meta
        meta.migrate("network", MIGRATIONS)

    # ---- networks -------------------------------------------------------------------------

    def networks(self) -> list[Network]:
        return [_network(r["record"]) for r in self.meta.query("SELECT record FROM networks")]

    def add_network(self, n: Network) -> None:
        self.meta.execute("INSERT INTO networks(id, name, record) VALUES(?, ?, ?)",
                          (n.id, n.name, json.dumps(asdict(n))))

    def delete_network(self, nid: str) -> None:
        with self.meta.transaction() as conn:
            conn.execute("DELETE FROM net_endpoints WHERE network_id=?", (nid,))
            conn.execute("DELETE FROM networks WHERE id=?", (nid,))

    # ---- endpoints ------------------------------------------------------------------------

    def endpoints(self, *, container_id: str | None = None,
                  network_id: str | None = None) -> list[Endpoint]:
        sql, args = "SELECT * FROM net_endpoints", []
        if container_id is not None:
            sql, args = sql + " WHERE container_id=?", [container_id]
        elif network_id is not None:
            sql, args = sql + " WHERE network_id=?", [network_id]
        return [_endpoint(r) for r in self.meta.query(sql + " ORDER BY rowid", args)]

    def add_endpoint(self, ep: Endpoint) -> None:
        self.meta.execute(
            "INSERT OR REPLACE INTO net_endpoints(container_id, network_id, config) "
            "VALUES(?, ?, ?)", (ep.container_id, ep.network_id, json.dumps(ep.config)))

    def delete_endpoint(self, cid: str, nid: str) -> None:
        self.meta.execute("DELETE FROM net_endpoints WHERE container_id=? AND network_id=?",
                          (cid, nid))

    def used_ips(self, nid: str) -> list[str]:
        return [r[0] for r in self.meta.query(
            "SELECT ip FROM net_endpoints WHERE network_id=? AND ip IS NOT NULL", (nid,))]

    def used_ips6(self, nid: str) -> list[str]:
        return [r[0] for r in self.meta.query(
            "SELECT ip6 FROM net_endpoints WHERE network_id=? AND ip6 IS NOT NULL", (nid,))]

    def lease(self, ep: Endpoint) -> None:
        self.meta.execute(
            "UPDATE net_endpoints SET ip=?, mac=?, ifname=?, host_ifname=?, endpoint_id=?, "
            "ip6=? WHERE container_id=? AND network_id=?",
            (ep.ip, ep.mac, ep.ifname, ep.host_ifname, ep.endpoint_id, ep.ip6, ep.container_id,
             ep.network_id))

    def release(self, cid: str, nid: str | None = None) -> None:
        """Clear the leases (and published ports) of a container that stopped."""
        with self.meta.transaction() as conn:
            if nid is None:
                conn.execute("UPDATE net_endpoints SET ip=NULL, mac=NULL, ifname=NULL, "
                             "host_ifname=NULL, endpoint_id=NULL, ip6=NULL WHERE container_id=?", (cid,))
                conn.execute("DELETE FROM net_ports WHERE container_id=?", (cid,))
            else:
                conn.execute("UPDATE net_endpoints SET ip=NULL, mac=NULL, ifname=NULL, "
                             "host_ifname=NULL, endpoint_id=NULL, ip6=NULL WHERE container_id=? AND "
                             "network_id=?", (cid, nid))

    def forget_container(self, cid: str) -> None:
        with self.meta.transaction() as conn:
            conn.execute("DELETE FROM net_endpoints WHERE container_id=?", (cid,))
            conn.execute("DELETE FROM net_ports WHERE container_id=?", (cid,))

    # ---- published ports ------------------------------------------------------------------

    def ports(self, container_id: str | None = None) -> list[Port]:
        if container_id is None:
            rows = self.meta.query("SELECT * FROM net_ports")
        else:
            rows = self.meta.query("SELECT * FROM net_ports WHERE container_id=?",
                                   (container_id,))
        return [Port(**dict(r)) for r in rows]

    def set_ports(self, cid: str, ports: list[Port]) -> None:
        with self.meta.transaction() as conn:
            conn.execute("DELETE FROM net_ports WHERE container_id=?", (cid,))
            conn.executemany(
                "INSERT OR IGNORE INTO net_ports(container_id, proto, container_port, host_ip,"
                " host_port) VALUES(?, ?, ?, ?, ?)",
                [(p.container_id, p.proto, p.container_port, p.host_ip, p.host_port)
                 for p in ports])


def _network(text: str) -> Network:
    rec = json.loads(text)
    known = Network.__dataclass_fields__
    return Network(**{k: v for k, v in rec.items() if k in known})


def _endpoint(row) -> Endpoint:
    d = dict(row)
    d["config"] = json.loads(d["config"] or "{}")
    return Endpoint(**d)
