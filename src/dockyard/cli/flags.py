"""Docker-style flag parsing (pflag semantics) without ``argparse``.

``argparse`` costs several milliseconds to import and cannot express docker's rules: flags
interleaved with arguments (``docker rm x -f``), combined short flags (``-dit``), values glued to
short flags (``-eFOO=1``), ``--flag=false`` for booleans, and ``run IMAGE CMD -x`` where
everything after the image belongs to the container.
"""

from __future__ import annotations

BOOL, STR, LIST, INT = "bool", "string", "list", "int"
TRUE_BOOL = "true-bool"  # a boolean flag whose default is true (``--sig-proxy=false``)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    FlagSpec = tuple[str, str, str, str]  # (short or "", long, kind, help)


class UsageError(Exception):
    """Bad flags or arguments; docker exits 125 for these."""

    def __init__(self, message: str, command: str = ""):
        super().__init__(message)
        self.command = command


class HelpRequested(Exception):
    """``--help`` was given; the caller prints the command's help and exits 0."""


def _key(long: str) -> str:
    return long.replace("-", "_")


def defaults(spec: list[FlagSpec]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _short, long, kind, _help in spec:
        out[_key(long)] = (False if kind == BOOL else True if kind == TRUE_BOOL
                           else [] if kind == LIST else None)
    return out


def parse(argv: list[str], spec: list[FlagSpec], interspersed: bool = True,
          aliases: dict[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Parse ``argv`` against ``spec``; returns (options by long name with _, positionals)."""
    opts = defaults(spec)
    spec = [(s, lg, BOOL if k == TRUE_BOOL else k, h) for s, lg, k, h in spec]
    by_long = {long: (long, kind) for _s, long, kind, _h in spec}
    for alias, target in (aliases or {}).items():
        by_long[alias] = by_long[target]
    by_short = {short: (long, kind) for short, long, kind, _h in spec if short}
    args: list[str] = []
    i = 0

    def store(long: str, kind: str, value: str, shown: str) -> None:
        key = _key(long)
        if kind == LIST:
            opts[key].append(value)
        elif kind == INT:
            try:
                opts[key] = int(value)
            except ValueError:
                raise UsageError(
                    f'invalid argument "{value}" for "{shown}" flag: '
                    f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
        elif kind == BOOL:
            low = value.lower()
            if low in ("1", "t", "true"):
                opts[key] = True
            elif low in ("0", "f", "false"):
                opts[key] = False
            else:
                raise UsageError(
                    f'invalid argument "{value}" for "{shown}" flag: '
                    f'strconv.ParseBool: parsing "{value}": invalid syntax')
        else:
            opts[key] = value

    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name == "help":
                raise HelpRequested()
            if name not in by_long:
                raise UsageError(f"unknown flag: --{name}")
            long, kind = by_long[name]
            if kind == BOOL:
                store(long, kind, value if eq else "true", "--" + long)
            elif eq:
                store(long, kind, value, "--" + long)
            elif i < len(argv):
                store(long, kind, argv[i], "--" + long)
                i += 1
            else:
                raise UsageError(f"flag needs an argument: --{name}")
        elif arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                ch = arg[j]
                j += 1
                if ch not in by_short:
                    if ch == "h":
                        raise HelpRequested()
                    raise UsageError(f"unknown shorthand flag: '{ch}' in {arg}")
                long, kind = by_short[ch]
                shown = f"-{ch}, --{long}"
                if kind == BOOL:
                    if j < len(arg) and arg[j] == "=":
                        store(long, kind, arg[j + 1:], shown)
                        break
                    store(long, kind, "true", shown)
                    continue
                rest = arg[j:]
                if rest:
                    store(long, kind, rest[1:] if rest.startswith("=") else rest, shown)
                elif i < len(argv):
                    store(long, kind, argv[i], shown)
                    i += 1
                else:
                    raise UsageError(f"flag needs an argument: '{ch}' in -{ch}")
                break
        else:
            args.append(arg)
            if not interspersed:
                args.extend(argv[i:])
                break
    return opts, args


def help_text(usage: str, summary: str, spec: list[FlagSpec]) -> str:
    """The ``--help`` page of one command, laid out like docker's."""
    lines = [f"\nUsage:  {usage}\n", summary, ""]
    lines.append("Options:")
    rows = []
    for short, long, kind, text in [*spec, ("", "help", BOOL, "Print usage")]:
        name = (f"-{short}, " if short else "    ") + f"--{long}"
        if kind not in (BOOL, TRUE_BOOL):
            name += f" {kind}"
        rows.append((name, text))
    width = max(len(n) for n, _ in rows) + 3
    lines.extend(f"  {n.ljust(width)}{t}" for n, t in rows)
    return "\n".join(lines) + "\n"


def exact_args(args: list[str], n: int, command: str) -> None:
    if len(args) != n:
        word = "argument" if n == 1 else "arguments"
        raise UsageError(f'"dockyard {command}" requires exactly {n} {word}.', command)


def min_args(args: list[str], n: int, command: str) -> None:
    if len(args) < n:
        word = "argument" if n == 1 else "arguments"
        raise UsageError(f'"dockyard {command}" requires at least {n} {word}.', command)
