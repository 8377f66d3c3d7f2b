"""Resolve docker's ``--user`` forms against the image's own /etc/passwd and /etc/group.

The rootfs is untrusted: its /etc/passwd may be a symlink aiming at the host's, so every path
is resolved with the rootfs as ``/`` (openat2 RESOLVE_IN_ROOT), never followed on the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument
from dockyard.sys.inroot import read_in_root

_MAX_DB_BYTES = 16 * 1024 * 1024


@dataclass
class ExecUser:
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"
    name: str = ""


def read_db(root: str, path: str) -> list[list[str]]:
    """Colon-separated entries of a passwd/group file; [] when the image has none."""
    data = read_in_root(root, path, _MAX_DB_BYTES)
    if data is None:
        return []
    rows = []
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def parse_id(s: str) -> int | None:
    """A numeric uid/gid (below 2^32-1, the kernel's invalid id); None for a name."""
    if s.isdigit():
        v = int(s)
        if v < 2**32 - 1:
            return v
        raise InvalidArgument(f"invalid user/group id {s!r}: out of range")
    return None


def resolve_user(root: str, spec: str) -> ExecUser:
    """docker's forms: "", "name", "uid", "uid:gid", "name:group" (and mixes)."""
    user_part, _, group_part = spec.partition(":")
    if ":" in group_part or (spec and not user_part):
        raise InvalidArgument(f"invalid user specification {spec!r}")
    passwd = read_db(root, "/etc/passwd")
    user_part = user_part or "0"
    uid_num = parse_id(user_part)
    entry = None
    for row in passwd:
        if len(row) < 3:
            continue
        if (uid_num is None and row[0] == user_part) or (
            uid_num is not None and row[2].isdigit() and int(row[2]) == uid_num
        ):
            entry = row
            break
    if entry is None and uid_num is None:
        raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
    user = ExecUser(uid=uid_num if uid_num is not None else 0)
    if entry is not None:
        user.name = entry[0]
        user.uid = int(entry[2]) if uid_num is None and entry[2].isdigit() else user.uid
        user.gid = int(entry[3]) if len(entry) > 3 and entry[3].isdigit() else 0
        user.home = entry[5] if len(entry) > 5 and entry[5] else "/"
    groups = read_db(root, "/etc/group")
    if group_part:
        gid_num = parse_id(group_part)
        if gid_num is not None:
            user.gid = gid_num
        else:
            for row in groups:
                if len(row) >= 3 and row[0] == group_part and row[2].isdigit():
                    user.gid = int(row[2])
                    break
            else:
                raise InvalidArgument(
                    f"unable to find group {group_part}: no matching entries in group file"
                )
    if user.name:
        for row in groups:
            if len(row) >= 4 and row[2].isdigit():
                members = [m.strip() for m in row[3].split(",")]
                gid = int(row[2])
                if user.name in members and gid != user.gid and gid not in user.additional_gids:
                    user.additional_gids.append(gid)
    return user


def resolve_groups(root: str, groups: list[str]) -> list[int]:
    """``--group-add``: numbers as they are, names through the image's /etc/group (Docker's
    error when one is missing)."""
    rows: list[list[str]] | None = None
    out: list[int] = []
    for name in groups:
        gid = parse_id(name)
        if gid is None:
            rows = rows if rows is not None else read_db(root, "/etc/group")
            gid = next((int(r[2]) for r in rows if len(r) >= 3 and r[0] == name
                        and r[2].isdigit()), None)
            if gid is None:
                raise InvalidArgument(
                    f"Unable to find group {name}: no matching entries in group file")
        if gid not in out:
            out.append(gid)
    return out
