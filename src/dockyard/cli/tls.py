"""``dockyard tls gen``: a CA, a server and a client certificate for remote access.

The only CLI command that needs a third-party library (``cryptography``); it is imported
when this command runs, never on other commands' start-up path. docs/tls.md explains the files.
"""

from __future__ import annotations

import os

from dockyard.cli.base import CLIError, Context, out
from dockyard.cli.flags import INT, LIST, STR

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.flags import FlagSpec

GEN_SPEC: list[FlagSpec] = [
    ("d", "dir", STR, "Directory to write the files to (default ~/.docker)"),
    ("", "san", LIST, "DNS name or IP address clients use to reach the daemon (repeatable; "
                      "default localhost and 127.0.0.1)"),
    ("", "days", INT, "Validity of the server and client certificates in days (default 825)"),
    ("", "client-cn", STR, "Common name of the client certificate (default client)"),
]

_HELP = """
Usage:  dockyard tls COMMAND

Make TLS material for 'dockyard daemon --tlsverify' and its clients

Commands:
  gen         Create a CA, a server certificate and a client certificate

Run 'dockyard tls COMMAND --help' for more information on a command.
"""


def cmd_tls(ctx: Context, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        out(_HELP)
        return 0
    if argv[0] != "gen":
        from dockyard.cli.flags import UsageError

        raise UsageError(f'unknown command "{argv[0]}" for "dockyard tls"')
    opts, args = ctx.parse(argv[1:], "tls gen [OPTIONS]",
                           "Create a CA, a server certificate and a client certificate",
                           GEN_SPEC)
    if args:
        raise CLIError('"dockyard tls gen" accepts no arguments.', 125)
    directory = opts["dir"] or os.path.join(os.path.expanduser("~"), ".docker")
    existing = [f for f in ("ca.pem", "cert.pem", "key.pem", "server-cert.pem")
                if os.path.exists(os.path.join(directory, f))]
    if existing:
        raise CLIError(f"{os.path.join(directory, existing[0])} exists: remove it or use "
                       "--dir to write elsewhere", 1)
    try:
        from dockyard.daemon.certs import generate
    except ImportError:
        raise CLIError("dockyard tls gen needs the 'cryptography' package "
                       "(pip install cryptography)", 1) from None
    sans = opts["san"] or ["localhost", "127.0.0.1"]
    files = generate(directory, sans, opts["client_cn"] or "client", opts["days"] or 825)
    for f in files:
        out(os.path.join(directory, f))
    out(f"\nDaemon:  dockyard daemon -H tcp://0.0.0.0:2376 --tlsverify "
        f"--tlscacert {directory}/ca.pem --tlscert {directory}/server-cert.pem "
        f"--tlskey {directory}/server-key.pem")
    out(f"Client:  DOCKER_HOST=tcp://{sans[0]}:2376 DOCKER_TLS_VERIFY=1 "
        f"DOCKER_CERT_PATH={directory} dockyard ps")
    return 0
