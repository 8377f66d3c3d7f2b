"""``pull``, ``push``, ``login``, ``logout``: the daemon does the registry work; the CLI sends
the stored credentials (``X-Registry-Auth``) and renders the progress stream."""

from __future__ import annotations

import sys

from dockyard.cli.base import CLIError, Context, err, out
from dockyard.cli.flags import BOOL, STR, UsageError, exact_args
from dockyard.client import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from dockyard.cli.flags import FlagSpec
    from dockyard.client import Client

PULL_SPEC: list[FlagSpec] = [
    ("a", "all-tags", BOOL, "Download all tagged images in the repository"),
    ("", "disable-content-trust", BOOL, "Skip image verification (default true)"),
    ("", "platform", STR, "Set platform if server is multi-platform capable"),
    ("q", "quiet", BOOL, "Suppress verbose output"),
]
PUSH_SPEC: list[FlagSpec] = [
    ("a", "all-tags", BOOL, "Push all tagged images in the repository"),
    ("", "disable-content-trust", BOOL, "Skip image signing (default true)"),
    ("q", "quiet", BOOL, "Suppress verbose output"),
]
LOGIN_SPEC: list[FlagSpec] = [
    ("p", "password", STR, "Password"),
    ("", "password-stdin", BOOL, "Take the password from stdin"),
    ("u", "username", STR, "Username"),
]
LOGOUT_SPEC: list[FlagSpec] = []


def split_name(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest) without validating (the daemon does that)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = ""
    if ":" in last:
        name, _, tag = name.rpartition(":")
    return name, tag, digest


def full_name(repo: str) -> str:
    """docker's normalised name: ``busybox`` → ``docker.io/library/busybox``."""
    first, sep, rest = repo.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return repo
    if not sep:
        return f"docker.io/library/{repo}"
    return f"docker.io/{repo}"


def _stream(ctx: Context, method: str, path: str, query: dict, image: str, quiet: bool) -> None:
    from dockyard.cli.credentials import header_for
    from dockyard.cli.progress import render

    resp = ctx.client.request(method, path, query, None, header_for(image))
    render(resp.stream(), sys.stdout, quiet=quiet)


def pull_image(client: Client, image: str, platform: str | None = None, quiet: bool = False,
               out: TextIO | None = None) -> None:
    """What ``run``/``create`` need when the image is missing: pull NAME[:TAG|@DIGEST] with the
    stored credentials, progress bars on ``out`` (default stderr, as docker run)."""
    from dockyard.cli.credentials import header_for
    from dockyard.cli.progress import render

    repo, tag, digest = split_name(image)
    query = {"fromImage": repo + (f"@{digest}" if digest else ""),
             "tag": None if digest else (tag or "latest"), "platform": platform}
    resp = client.request("POST", "/images/create", query, None, header_for(image))
    render(resp.stream(), out or sys.stderr, quiet=quiet)


def cmd_pull(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "pull [OPTIONS] NAME[:TAG|@DIGEST]",
                           "Download an image from a registry", PULL_SPEC)
    exact_args(args, 1, "pull")
    repo, tag, digest = split_name(args[0])
    if opts["all_tags"]:
        if tag or digest:
            raise CLIError("tag can't be used with --all-tags/-a", 1)
    elif not tag and not digest:
        tag = "latest"
        if not opts["quiet"]:
            out("Using default tag: latest")
    query = {"fromImage": repo + (f"@{digest}" if digest else ""), "tag": tag or None,
             "platform": opts["platform"]}
    _stream(ctx, "POST", "/images/create", query, args[0], opts["quiet"])
    if opts["quiet"]:
        suffix = f"@{digest}" if digest else (f":{tag}" if tag else "")
        out(full_name(repo) + suffix)
    return 0


def cmd_push(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "push [OPTIONS] NAME[:TAG]",
                           "Push an image or a repository to a registry", PUSH_SPEC)
    exact_args(args, 1, "push")
    repo, tag, digest = split_name(args[0])
    if digest:
        raise CLIError("cannot push a digest reference", 1)
    if opts["all_tags"]:
        if tag:
            raise CLIError("tag can't be used with --all-tags/-a", 1)
    elif not tag:
        tag = "latest"
        if not opts["quiet"]:
            out("Using default tag: latest")
    _stream(ctx, "POST", f"/images/{quote(repo, '/:')}/push", {"tag": tag or None}, args[0],
            opts["quiet"])
    if opts["quiet"]:
        out(full_name(repo) + (f":{tag}" if tag else ""))
    return 0


def _read_password_stdin() -> str:
    data = sys.stdin.read()
    return data.rstrip("\n").rstrip("\r")


def cmd_login(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "login [OPTIONS] [SERVER]",
                           "Log in to a registry.\nIf no server is specified, the default is "
                           "defined by the daemon.", LOGIN_SPEC)
    if len(args) > 1:
        raise UsageError('"dockyard login" requires at most 1 argument.', "login")
    from dockyard.cli import credentials

    server = args[0] if args else credentials.HUB_SERVER
    user, password = opts["username"] or "", opts["password"] or ""
    if opts["password"]:
        err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
        if opts["password_stdin"]:
            raise CLIError("--password and --password-stdin are mutually exclusive", 1)
    if opts["password_stdin"]:
        if not user:
            raise CLIError("Must provide --username with --password-stdin", 1)
        password = _read_password_stdin()
    if not user:
        sys.stdout.write("Username: ")
        sys.stdout.flush()
        user = sys.stdin.readline().strip()
        if not user:
            raise CLIError("Error: Non-null Username Required", 1)
    if not password:
        import getpass

        password = getpass.getpass("Password: ")
        if not password:
            raise CLIError("Error: Non-null Password Required", 1)
    resp = ctx.client.post("/auth", json={"username": user, "password": password,
                                          "serveraddress": server})
    path = credentials.store(server, user, password,
                             (resp or {}).get("IdentityToken") or "")
    if path:
        err(f"WARNING! Your password will be stored unencrypted in {path}.\n"
            "Configure a credential helper to remove this warning. See\n"
            "https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n")
    out((resp or {}).get("Status") or "Login Succeeded")
    return 0


def cmd_logout(ctx: Context, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "logout [SERVER]",
                            "Log out from a registry.\nIf no server is specified, the default "
                            "is defined by the daemon.", LOGOUT_SPEC)
    if len(args) > 1:
        raise UsageError('"dockyard logout" requires at most 1 argument.', "logout")
    from dockyard.cli import credentials

    server = args[0] if args else credentials.HUB_SERVER
    shown = credentials.server_key(server)
    if not credentials.erase(server):
        out(f"Not logged in to {shown}")
        return 0
    out(f"Removing login credentials for {shown}")
    return 0
