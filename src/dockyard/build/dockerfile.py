"""Dockerfile parser: text → stages of instructions, with Docker's syntax and error wording.

Follows moby/buildkit's ``frontend/dockerfile/parser`` (directives, comments, continuation
lines, heredocs, JSON vs shell forms, builder flags) and ``instructions`` (argument checks),
so a Dockerfile that docker rejects is rejected here with the same message, prefixed by the
line it starts on. Nothing is expanded here: variable substitution depends on build args and
ENV at dispatch time, so arguments stay raw and the builder calls ``shell.expand``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

from . import shell as _shell


class DockerfileError(InvalidArgument):
    """A Dockerfile docker would refuse; ``lineno`` is the 1-based line of the instruction
    (None for errors that concern the whole file or come from variable expansion)."""

    def __init__(self, message: str, lineno: int | None = None):
        super().__init__(message)
        self.lineno = lineno


@dataclass
class Heredoc:
    name: str
    content: str  # with leading tabs already removed when ``chomp`` (``<<-EOF``)
    expand: bool  # False when the delimiter was quoted (``<<"EOF"``, ``<<'EOF'``)
    chomp: bool


@dataclass
class Instruction:
    """One instruction, unexpanded. ``args``: the shell form is one raw string, the JSON form
    the list; COPY/ADD/EXPOSE/VOLUME the whitespace-separated words (heredoc openers such as
    ``<<EOF`` included); ENV/LABEL the flattened pairs; HEALTHCHECK ``["CMD", ...]`` or
    ``["NONE"]`` with the command also as ``sub``; ONBUILD the trigger text with the parsed
    trigger as ``sub``. ``pairs`` holds ENV/LABEL/ARG name/value pairs (value None for an ARG
    without default). ``original`` is the text as written, continuations joined."""

    cmd: str
    args: list[str] = field(default_factory=list)
    json_form: bool = False
    flags: dict[str, list[str]] = field(default_factory=dict)
    heredocs: list[Heredoc] = field(default_factory=list)
    lineno: int = 0
    original: str = ""
    pairs: list[tuple[str, str | None]] = field(default_factory=list)
    sub: Instruction | None = None
    end_lineno: int = 0

    def flag(self, name: str, default: str | None = None) -> str | None:
        """The last value of a single-valued flag (``--from``, ``--chown``...)."""
        values = self.flags.get(name)
        return values[-1] if values else default


@dataclass
class Stage:
    index: int
    name: str | None
    base: str
    platform: str | None
    lineno: int
    instructions: list[Instruction] = field(default_factory=list)
    from_instruction: Instruction | None = None


@dataclass
class Dockerfile:
    escape: str
    syntax: str | None
    global_args: list[Instruction]
    stages: list[Stage]

    def stage(self, name_or_index: str) -> Stage | None:
        """A stage by (case-insensitive) name or decimal index, as ``--target``/``--from``."""
        key = name_or_index.lower()
        for st in self.stages:
            if st.name == key:
                return st
        if key.isdigit() and int(key) < len(self.stages):
            return self.stages[int(key)]
        return None


# -- flags -------------------------------------------------------------------------------------

_STR, _BOOL, _LIST = "string", "bool", "list"

_FLAGS: dict[str, dict[str, str]] = {
    "FROM": {"platform": _STR},
    "RUN": {"mount": _LIST, "network": _STR, "security": _STR},
    "COPY": {"from": _STR, "chown": _STR, "chmod": _STR, "link": _BOOL, "parents": _BOOL,
             "exclude": _LIST},
    "ADD": {"chown": _STR, "chmod": _STR, "link": _BOOL, "keep-git-dir": _BOOL,
            "checksum": _STR, "exclude": _LIST, "unpack": _BOOL},
    "HEALTHCHECK": {"interval": _STR, "timeout": _STR, "start-period": _STR,
                    "start-interval": _STR, "retries": _STR},
}

_INSTRUCTIONS = {"FROM", "RUN", "CMD", "ENTRYPOINT", "LABEL", "EXPOSE", "ENV", "ARG", "ADD",
                 "COPY", "VOLUME", "USER", "WORKDIR", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK",
                 "SHELL", "MAINTAINER"}


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading ``--name=value`` words (quotes and backslashes processed) and the rest."""
    words: list[str] = []
    word: list[str] = []
    in_word = in_quote = blank_ok = False
    quote = ""
    pos, n = 0, len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if not in_word and not in_quote:
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            in_word = True
        if pos == n:
            w = "".join(word)
            if w != "--" and (blank_ok or w):
                words.append(w)
            break
        if in_quote:
            if ch == quote:
                in_quote, in_word = False, True
            elif ch == "\\":
                if pos + 1 == n:
                    in_quote, in_word = False, True
                else:
                    pos += 1
                    word.append(line[pos])
            else:
                word.append(ch)
            pos += 1
            continue
        if ch.isspace():
            w = "".join(word)
            in_word = False
            if w == "--":
                return line[pos:], words
            if blank_ok or w:
                words.append(w)
            word, blank_ok = [], False
            pos += 1
            continue
        if ch in ("'", '"'):
            quote, blank_ok, in_quote, in_word = ch, True, True, False
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", words


def _parse_flags(cmd: str, words: list[str]) -> dict[str, list[str]]:
    allowed = _FLAGS.get(cmd, {})
    out: dict[str, list[str]] = {}
    for w in words:
        if not w.startswith("--"):
            raise DockerfileError(f"Arg should start with -- : {w}")
        name, eq, value = w[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            raise DockerfileError(f"Unknown flag: {name}")
        if name in out and kind != _LIST:
            raise DockerfileError(f"Duplicate flag specified: {name}")
        if kind == _BOOL:
            if not eq:
                value = "true"
            elif value.lower() not in ("true", "false"):
                raise DockerfileError(f"expecting boolean value for flag {name}, not: {value}")
            value = value.lower()
        elif not eq:
            raise DockerfileError(f"Missing a value on flag: {name}")
        out.setdefault(name, []).append(value)
    return out


# -- argument forms ----------------------------------------------------------------------------

_NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only"


class _NotJSON(Exception):
    pass


def _parse_json(rest: str) -> list[str]:
    rest = rest.lstrip()
    if not rest.startswith("["):
        raise _NotJSON
    try:
        value, _ = json.JSONDecoder().raw_decode(rest)
    except ValueError:
        raise _NotJSON from None
    if not isinstance(value, list):
        raise _NotJSON
    if not all(isinstance(v, str) for v in value):
        raise DockerfileError(_NOT_STRINGS)
    return value


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    if rest == "":
        return [], False
    try:
        return _parse_json(rest), True
    except _NotJSON:
        return [rest], False


def _maybe_json_list(rest: str) -> tuple[list[str], bool]:
    try:
        return _parse_json(rest), True
    except _NotJSON:
        return rest.split(), False


def _parse_words(rest: str, escape: str) -> list[str]:
    """Split on unquoted whitespace keeping quotes and escapes (moby's ``parseWords``)."""
    words: list[str] = []
    word: list[str] = []
    in_word = blank_ok = False
    quote = ""
    i, n = 0, len(rest)
    while i < n:
        ch = rest[i]
        if not in_word and not quote:
            if ch.isspace():
                i += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    i += 1
                    continue
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        if ch.isspace():
            if blank_ok or word:
                words.append("".join(word))
            word, blank_ok, in_word = [], False, False
            i += 1
            continue
        if ch in ("'", '"'):
            quote, blank_ok = ch, True
        elif ch == escape:
            if i + 1 == n:
                i += 1
                continue
            word.append(ch)
            i += 1
            ch = rest[i]
        word.append(ch)
        i += 1
    if (in_word or quote) and (blank_ok or word):
        words.append("".join(word))
    return words


def _name_val(rest: str, key: str, escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL pairs: ``KEY name value`` (old form) or ``KEY a=b c=d``."""
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = re.split(r"\s+", rest, maxsplit=1)
        if len(parts) < 2 or parts[1] == "":
            raise DockerfileError(f"{key} must have two arguments")
        return [(parts[0], parts[1])]
    pairs = []
    for w in words:
        if "=" not in w:
            raise DockerfileError(
                f"Syntax error - can't find = in {_shell.go_quote(w)}. "
                "Must be of the form: name=value")
        k, _, v = w.partition("=")
        pairs.append((k, v))
    return pairs


# -- Go durations (HEALTHCHECK flags) ------------------------------------------------------------

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
          "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DUR_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(s: str) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds ("1m30s", "1.5h", "300ms")."""
    orig, neg, total = s, False, 0
    if s[:1] in "+-" and s:
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise DockerfileError(f"time: invalid duration {_shell.go_quote(orig)}")
    pos = 0
    while pos < len(s):
        m = _DUR_PART.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise DockerfileError(f"time: invalid duration {_shell.go_quote(orig)}")
        num = m.group(1)
        whole, _, frac = num.partition(".")
        unit = _UNITS[m.group(2)]
        total += int(whole or "0") * unit
        if frac:
            total += int(frac) * unit // 10 ** len(frac)
        pos = m.end()
    return -total if neg else total


def healthcheck_config(inst: Instruction) -> dict:
    """The image config's ``Healthcheck`` for a HEALTHCHECK instruction (durations in ns)."""
    if inst.sub is None:
        return {"Test": ["NONE"]}
    sub = inst.sub
    test = ["CMD", *sub.args] if sub.json_form else ["CMD-SHELL", *sub.args]
    cfg: dict = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
        value = inst.flag(flag)
        if value:
            cfg[key] = parse_duration(value)
    retries = inst.flag("retries")
    if retries:
        cfg["Retries"] = int(retries)
    return cfg


def _check_health_flags(inst: Instruction) -> None:
    for flag in ("interval", "timeout", "start-period", "start-interval"):
        value = inst.flag(flag)
        if value:
            d = parse_duration(value)
            if d < 1_000_000:
                raise DockerfileError(f'Interval "{flag}" cannot be less than 1ms')
    retries = inst.flag("retries")
    if retries:
        try:
            n = int(retries, 10)
        except ValueError:
            raise DockerfileError(
                f"strconv.ParseInt: parsing {_shell.go_quote(retries)}: invalid syntax") from None
        if n < 1:
            raise DockerfileError(f"--retries must be at least 1 (not {n})")


# -- one logical line → Instruction ------------------------------------------------------------

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_LEADING_TABS = re.compile(r"^\t+", re.M)


def _instruction(line: str, lineno: int, escape: str) -> Instruction:
    stripped = line.strip()
    parts = re.split(r"\s+", stripped, maxsplit=1)
    word = parts[0]
    cmd = word.upper()
    rest, flag_words = ("", [])
    if len(parts) == 2:
        rest, flag_words = _extract_flags(parts[1])
    rest = rest.strip()
    inst = Instruction(cmd=cmd, lineno=lineno, end_lineno=lineno, original=stripped)
    if cmd not in _INSTRUCTIONS:
        raise DockerfileError(f"unknown instruction: {cmd}")
    inst.flags = _parse_flags(cmd, flag_words)
    _ARG_PARSERS[cmd](inst, rest, escape)
    return inst


def _p_from(inst: Instruction, rest: str, escape: str) -> None:
    inst.args = rest.split()
    args = inst.args
    if len(args) == 3 and args[1].lower() == "as":
        if not _STAGE_NAME.match(args[2].lower()):
            raise DockerfileError(f"invalid name for build stage: {_shell.go_quote(args[2])}, "
                                  "name can't start with a number or contain symbols")
    elif len(args) != 1:
        raise DockerfileError("FROM requires either one or three arguments")


def _p_exec(inst: Instruction, rest: str, escape: str) -> None:
    inst.args, inst.json_form = _maybe_json(rest)


def _p_shell(inst: Instruction, rest: str, escape: str) -> None:
    args, is_json = _maybe_json(rest)
    if not is_json:
        raise DockerfileError("SHELL requires the arguments to be in JSON form")
    if not args:
        raise DockerfileError("SHELL requires at least one argument")
    inst.args, inst.json_form = args, True


def _p_env(inst: Instruction, rest: str, escape: str) -> None:
    pairs = _name_val(rest, inst.cmd, escape)
    if not pairs:
        raise DockerfileError(f"{inst.cmd} requires at least one argument")
    for k, _ in pairs:
        if k == "":
            raise DockerfileError(f"{inst.cmd} names can not be blank")
    inst.pairs = list(pairs)
    inst.args = [w for kv in pairs for w in kv]


def _p_arg(inst: Instruction, rest: str, escape: str) -> None:
    words = _parse_words(rest, escape)
    if not words:
        raise DockerfileError("ARG requires exactly one argument")
    for w in words:
        if "=" in w:
            k, _, v = w.partition("=")
            if not k:
                raise DockerfileError("ARG names can not be blank")
            inst.pairs.append((k, v))
        else:
            inst.pairs.append((w, None))
    inst.args = words


def _p_copy(inst: Instruction, rest: str, escape: str) -> None:
    inst.args, inst.json_form = _maybe_json_list(rest)
    if len(inst.args) < 2:
        raise DockerfileError(f"{inst.cmd} requires at least two arguments, but only one was "
                              "provided. Destination could not be determined")


def _p_words(inst: Instruction, rest: str, escape: str) -> None:
    inst.args = rest.split()
    if not inst.args:
        raise DockerfileError(f"{inst.cmd} requires at least one argument")


def _p_one(inst: Instruction, rest: str, escape: str) -> None:
    if not rest:
        raise DockerfileError(f"{inst.cmd} requires exactly one argument")
    inst.args = [rest]


def _p_volume(inst: Instruction, rest: str, escape: str) -> None:
    inst.args, inst.json_form = _maybe_json_list(rest)
    if not inst.args:
        raise DockerfileError("VOLUME requires at least one argument")
    for v in inst.args:
        if not v.strip():
            raise DockerfileError("VOLUME specified can not be an empty string")


def _p_onbuild(inst: Instruction, rest: str, escape: str) -> None:
    if not rest:
        raise DockerfileError("ONBUILD requires at least one argument")
    trigger = rest.split(None, 1)[0].upper()
    if trigger == "ONBUILD":
        raise DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise DockerfileError(f"{trigger} isn't allowed as an ONBUILD trigger")
    inst.sub = _instruction(rest, inst.lineno, escape)
    inst.args = [re.sub(r"(?i)^\s*ONBUILD\s*", "", inst.original)]


def _p_health(inst: Instruction, rest: str, escape: str) -> None:
    if not rest:
        raise DockerfileError("HEALTHCHECK requires at least one argument")
    m = re.match(r"(\S+)\s*(.*)$", rest, re.S)
    assert m is not None
    typ, cmd_rest = m.group(1), m.group(2)
    kind = typ.upper()
    if kind == "NONE":
        if cmd_rest.strip():
            raise DockerfileError("HEALTHCHECK NONE takes no arguments")
        inst.args = ["NONE"]
        return
    if kind != "CMD":
        raise DockerfileError(f"Unknown type {_shell.go_quote(kind)} in HEALTHCHECK (try CMD)")
    _check_health_flags(inst)
    args, is_json = _maybe_json(cmd_rest)
    if not args:
        raise DockerfileError("Missing command after HEALTHCHECK CMD")
    inst.sub = Instruction(cmd="CMD", args=args, json_form=is_json, lineno=inst.lineno,
                           end_lineno=inst.lineno, original=f"CMD {cmd_rest}".strip())
    inst.args = ["CMD", *args]
    inst.json_form = is_json


def _p_maintainer(inst: Instruction, rest: str, escape: str) -> None:
    if not rest:
        raise DockerfileError("MAINTAINER requires exactly one argument")
    inst.args = [rest]


_ARG_PARSERS = {
    "FROM": _p_from, "RUN": _p_exec, "CMD": _p_exec, "ENTRYPOINT": _p_exec, "SHELL": _p_shell,
    "ENV": _p_env, "LABEL": _p_env, "ARG": _p_arg, "ADD": _p_copy, "COPY": _p_copy,
    "EXPOSE": _p_words, "VOLUME": _p_volume, "USER": _p_one, "WORKDIR": _p_one,
    "STOPSIGNAL": _p_one, "ONBUILD": _p_onbuild, "HEALTHCHECK": _p_health,
    "MAINTAINER": _p_maintainer,
}


def _heredoc_words(inst: Instruction, line: str) -> list[tuple[str, bool, bool]]:
    """(name, expand, chomp) of each heredoc a RUN/COPY/ADD line opens, in order."""
    target = inst.sub if inst.cmd == "ONBUILD" and inst.sub is not None else inst
    if target.cmd not in ("RUN", "COPY", "ADD") or target.json_form:
        return []
    docs = []
    for word in _shell.raw_words(line):
        m = _HEREDOC.match(word)
        if not m:
            continue
        cooked = _shell.expand_words(m.group(3), {})
        if len(cooked) != 1:
            continue
        raw = _shell.raw_words(m.group(3))
        quotes_cooked = cooked[0].count("'") + cooked[0].count('"')
        quotes_raw = raw[0].count("'") + raw[0].count('"') if raw else 0
        docs.append((cooked[0], quotes_cooked == quotes_raw, m.group(2) == "-"))
    return docs


# -- the file ----------------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_KNOWN_DIRECTIVES = {"syntax", "escape", "check"}


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.syntax: str | None = None
        self.done = False
        self.seen: set[str] = set()

    def line(self, text: str) -> None:
        if self.done:
            return
        m = _DIRECTIVE.match(text)
        if not m or m.group(1).lower() not in _KNOWN_DIRECTIVES:
            self.done = True
            return
        key, value = m.group(1).lower(), m.group(2)
        if key in self.seen:
            raise DockerfileError(f"failed to parse Dockerfile: only one {key} parser "
                                  "directive can be used")
        self.seen.add(key)
        if key == "escape":
            if value not in ("`", "\\"):
                raise DockerfileError(f"failed to parse Dockerfile: invalid ESCAPE '{value}'. "
                                      "Must be ` or \\")
            self.escape = value
        elif key == "syntax":
            self.syntax = value


def _is_comment(text: str) -> bool:
    return text.lstrip(" \t").startswith("#")


def parse(text: str, *, name: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile; raises DockerfileError with docker's wording and the line number."""
    if text == "":
        raise DockerfileError(f"the Dockerfile ({name}) cannot be empty")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    d = _Directives()
    instructions: list[Instruction] = []
    i, n = 0, len(lines)
    while i < n:
        raw = lines[i].lstrip(" \t")
        d.line(raw)
        cont = re.compile(re.escape(d.escape) + r"[ \t]*$")
        i += 1
        start = i
        if raw.startswith("#"):
            continue
        line = raw
        end_of_line = not cont.search(line)
        if end_of_line and line == "":
            continue
        if not end_of_line:
            line = cont.sub("", line)
        while not end_of_line and i < n:
            nxt = lines[i]
            d.line(nxt)
            i += 1
            if _is_comment(nxt):
                continue
            if nxt.strip(" \t") == "":
                continue
            if cont.search(nxt):
                line += cont.sub("", nxt)
            else:
                line += nxt
                end_of_line = True
        if line.strip() == "":
            continue
        try:
            inst = _instruction(line, start, d.escape)
            for hname, hexpand, hchomp in _heredoc_words(inst, line):
                body: list[str] = []
                terminated = False
                while i < n:
                    candidate = lines[i]
                    i += 1
                    check = candidate.lstrip("\t") if hchomp else candidate
                    if check == hname:
                        terminated = True
                        break
                    body.append(candidate + "\n")
                if not terminated:
                    raise DockerfileError("unterminated heredoc")
                content = "".join(body)
                if hchomp:
                    content = _LEADING_TABS.sub("", content)
                doc = Heredoc(name=hname, content=content, expand=hexpand, chomp=hchomp)
                target = inst.sub if inst.cmd == "ONBUILD" and inst.sub is not None else inst
                target.heredocs.append(doc)
        except DockerfileError as e:
            raise DockerfileError(f"dockerfile parse error line {start}: {e}", start) from None
        inst.end_lineno = i
        instructions.append(inst)
    if not instructions:
        raise DockerfileError("failed to parse Dockerfile: file with no instructions")
    return _stages(instructions, d)


def parse_instruction(text: str, *, escape: str = "\\", lineno: int = 0) -> Instruction:
    """One instruction line, e.g. an image's ONBUILD trigger run by a child build."""
    try:
        return _instruction(text, lineno, escape)
    except DockerfileError as e:
        prefix = f"dockerfile parse error line {lineno}: " if lineno else ""
        raise DockerfileError(f"{prefix}{e}", lineno or None) from None


def _stages(instructions: list[Instruction], d: _Directives) -> Dockerfile:
    df = Dockerfile(escape=d.escape, syntax=d.syntax, global_args=[], stages=[])
    for inst in instructions:
        if inst.cmd == "FROM":
            args = inst.args
            name = args[2].lower() if len(args) == 3 else None
            df.stages.append(Stage(index=len(df.stages), name=name, base=args[0],
                                   platform=inst.flag("platform"), lineno=inst.lineno,
                                   from_instruction=inst))
            continue
        if not df.stages:
            if inst.cmd == "ARG":
                df.global_args.append(inst)
                continue
            raise DockerfileError("no build stage in current context", inst.lineno)
        df.stages[-1].instructions.append(inst)
    return df
