"""RUN on the default network, as Docker's classic builder: the step gets an endpoint on the
default bridge from the engine's network service.

``runc run`` starts the process at once, so there is no moment between create and start to
move a veth in; instead the step's network namespace is made first, held by a tiny process
(killed with the daemon, through PR_SET_PDEATHSIG), given its endpoint, and handed to runc
as a path. The namespace and its veth go when the holder is killed after the step.
"""

from __future__ import annotations

import os
import subprocess
import time
from types import SimpleNamespace

from ..errors import Conflict, InvalidArgument, NotFound, RuntimeFailure

_HOLDER = ["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--net", "--", "sleep",
           "infinity"]


def _loopback_up(pid: int) -> None:
    from ..network.rtnl import Rtnl
    from ..sys.netns import entered

    try:
        with entered(f"/proc/{pid}/ns/net"):
            rt = Rtnl()
        with rt:
            rt.set_up(rt.index("lo"))
    except OSError as e:
        raise RuntimeFailure(f"cannot bring up the step's loopback: {e}") from None


class StepNetwork:
    """Context manager: ``netns_path``, ``hosts`` and ``resolv`` for one step."""

    def __init__(self, networks, cid: str, extra_hosts: list[str],
                 warn=None, network: str = "default"):
        self.networks = networks
        self.warn = warn  # callable(text): a line in the build output
        self.cid = cid
        self.host = {"NetworkMode": network, "ExtraHosts": list(extra_hosts)}
        self.netns_path: str | None = None
        self.hosts: bytes | None = None
        self.resolv: bytes | None = None
        self._holder: subprocess.Popen | None = None
        self._leased = False

    def __enter__(self) -> StepNetwork:
        try:
            attachments = self.networks.validate({}, self.host, None)
        except (NotFound, InvalidArgument):
            if self.host["NetworkMode"] != "default":
                raise  # a user network (networkmode=NAME) that is not there
            return self  # no default bridge on this daemon: loopback only, as docker's
        try:
            self.networks.created(self.cid, attachments)
            self._leased = True
            c = SimpleNamespace(id=self.cid, host_config=self.host,
                                config={"Hostname": self.cid[:12]})
            plan = self.networks.plan(c)
            pid = self._hold()
            _loopback_up(pid)  # runc brings lo up only in namespaces it makes itself
            self.networks.attach(c, pid, plan)
        except (RuntimeFailure, NotFound, Conflict) as e:
            # the bridge is broken (deleted under the daemon, ...): the step still runs, with
            # loopback only, and says so, rather than failing a build that needs no network
            self.__exit__()
            if self.warn is not None:
                self.warn(f"[Warning] the default network is unavailable ({e}); this step "
                          "runs with loopback only\n")
            return self
        except BaseException:
            self.__exit__()
            raise
        self.netns_path = f"/proc/{pid}/ns/net"
        self.hosts, self.resolv = plan.hosts or None, plan.resolv or None
        return self

    def _hold(self) -> int:
        own = os.readlink("/proc/self/ns/net")
        try:
            self._holder = subprocess.Popen(_HOLDER, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, close_fds=True)
        except OSError as e:
            raise RuntimeFailure(f"cannot make the step's network namespace: {e}") from None
        pid = self._holder.pid
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self._holder.poll() is not None:
                break
            try:
                if os.readlink(f"/proc/{pid}/ns/net") != own and \
                        os.readlink(f"/proc/{pid}/exe").endswith("sleep"):
                    return pid
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeFailure("cannot make the step's network namespace (unshare failed)")

    def __exit__(self, *exc) -> None:
        if self._holder is not None:
            self._holder.kill()
            self._holder.wait()
            self._holder = None
        if self._leased:
            self._leased = False
            try:
                self.networks.release(self.cid)
            finally:
                self.networks.removed(self.cid)
