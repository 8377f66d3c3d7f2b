"""``dockyard registry serve|gc|user`` — argparse front end; returns an exit code."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from ..errors import DockyardError
from .config import DEFAULT_ROOT, Config, load_file


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dockyard registry",
                                description="OCI Distribution registry server")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="run the registry")
    s.add_argument("--config", help="TOML or JSON settings file (flags override it)")
    s.add_argument("--addr", help="listen address HOST:PORT (default 127.0.0.1:5000)")
    s.add_argument("--root", help=f"storage directory (default {DEFAULT_ROOT})")
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    s.add_argument("--auth", help="htpasswd:FILE or token:CONFIG")
    s.add_argument("--read-only", action="store_true", default=None)
    s.add_argument("--log-level", choices=["debug", "info", "warning", "error"])

    g = sub.add_parser("gc", help="remove untagged manifests and unreferenced blobs (online)")
    g.add_argument("--config")
    g.add_argument("--root")
    g.add_argument("--grace", type=float, default=3600.0,
                   help="keep anything younger than this many seconds (default 3600)")
    g.add_argument("--keep-untagged", action="store_true", help="do not delete untagged manifests")
    g.add_argument("--dry-run", action="store_true")

    u = sub.add_parser("user", help="manage htpasswd users (bcrypt)")
    usub = u.add_subparsers(dest="ucmd", required=True)
    ua = usub.add_parser("add", help="add or replace a user")
    ua.add_argument("name")
    ua.add_argument("--htpasswd", required=True, help="htpasswd file to edit")
    ua.add_argument("--password", help="the password (default: prompt)")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    ur = usub.add_parser("rm", help="remove a user")
    ur.add_argument("name")
    ur.add_argument("--htpasswd", required=True)
    return p


def _config(args: argparse.Namespace) -> Config:
    values = load_file(args.config) if getattr(args, "config", None) else {}
    for f in dataclasses.fields(Config):
        v = getattr(args, f.name, None)
        if v is not None:
            values[f.name] = v
    return Config(**values)


def _serve(args: argparse.Namespace) -> int:
    cfg = _config(args)
    cfg.validate()
    logging.basicConfig(level=cfg.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from . import lean

    lean.prepare(tls=bool(cfg.tls_cert))  # before asyncio: keeps OpenSSL out of a plain registry
    import asyncio

    from .server import serve

    asyncio.run(serve(cfg))
    return 0


def _gc(args: argparse.Namespace) -> int:
    from .gc import collect
    from .service import Registry

    cfg = _config(args)
    reg = Registry(cfg.root)
    try:
        st = collect(reg, grace=args.grace, delete_untagged=not args.keep_untagged,
                     upload_max_age=cfg.upload_max_age, dry_run=args.dry_run)
    finally:
        reg.close()
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb}: {st.manifests} manifests, {st.links} links, {st.blobs} blobs "
          f"({st.bytes} bytes), {st.uploads} stale uploads")
    return 0


def _user(args: argparse.Namespace) -> int:
    from . import htpasswd

    if args.ucmd == "rm":
        if not htpasswd.remove_user(args.htpasswd, args.name):
            print(f"Error: no such user: {args.name}", file=sys.stderr)
            return 1
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif args.password is not None:
        password = args.password
    else:
        import getpass

        password = getpass.getpass("Password: ")
    htpasswd.add_user(args.htpasswd, args.name, password)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        from . import lean

        lean.defer()  # before argparse, which imports shutil and its compressors
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "serve":
            return _serve(args)
        if args.cmd == "gc":
            return _gc(args)
        return _user(args)
    except DockyardError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"Error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
