""".dockerignore patterns with Docker's semantics (moby/patternmatcher), standard library only.

The CLI imports this to leave ignored files out of the uploaded context, and the daemon applies
it again to what it receives, so the rules must be identical on both sides: Go
``filepath.Match`` syntax (``*`` and ``?`` never cross ``/``, ``[...]`` classes, ``\\``
escapes), ``**`` for any number of directories, ``!`` exceptions evaluated in order (the last
matching pattern wins), a pattern matching a directory also ignores everything under it, and
patterns are cleaned like Go's ``filepath.Clean`` with a leading ``/`` removed.
"""

from __future__ import annotations

import posixpath
import re

from dockyard.errors import InvalidArgument

_BOM = "\ufeff"


class PatternError(InvalidArgument):
    """A malformed pattern (as Go's ``filepath.ErrBadPattern``)."""


def _clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash path ("" → ".")."""
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):  # POSIX keeps a leading "//"; Go does not
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file: comments and blank lines dropped, each pattern
    trimmed and cleaned, a leading ``/`` removed (``!`` kept in front)."""
    out: list[str] = []
    for i, line in enumerate(text.splitlines()):
        if i == 0 and line.startswith(_BOM):
            line = line[1:]
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def _class(pattern: str, i: int) -> tuple[str, int]:
    """Translate a ``[...]`` class starting at ``pattern[i] == "["`` with Go's grammar
    (``[^...]`` negates; ``-`` and ``]`` must be escaped where a character is expected; at
    least one range); returns (regex, index after the class)."""
    bad = PatternError("syntax error in pattern")
    j = i + 1
    negated = j < len(pattern) and pattern[j] == "^"
    if negated:
        j += 1
    items: list[str] = []
    ranges = 0

    def char(k: int) -> tuple[str, int]:
        if k >= len(pattern) or pattern[k] in "-]":
            raise bad
        if pattern[k] == "\\":
            k += 1
            if k >= len(pattern):
                raise bad
        return pattern[k], k + 1

    while True:
        if j >= len(pattern):
            raise bad
        if pattern[j] == "]" and ranges:
            if not items:  # only empty ranges like z-a, which Go accepts
                return ("." if negated else "(?!)"), j + 1
            return "[" + ("^" if negated else "") + "".join(items) + "]", j + 1
        lo, j = char(j)
        if j < len(pattern) and pattern[j] == "-":
            hi, j = char(j + 1)
            if lo <= hi:
                items.append(f"{re.escape(lo)}-{re.escape(hi)}")
        else:
            items.append(re.escape(lo))
        ranges += 1


def _compile(pattern: str) -> re.Pattern[str]:
    rx = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    rx.append(".*")
                else:
                    rx.append("(.*/)?")
                continue
            rx.append("[^/]*")
        elif ch == "?":
            rx.append("[^/]")
        elif ch == "[":
            cls, i = _class(pattern, i)
            rx.append(cls)
            continue
        elif ch == "\\":
            if i + 1 < n:
                i += 1
                rx.append(re.escape(pattern[i]))
            else:
                raise PatternError("syntax error in pattern")
        else:
            rx.append(re.escape(ch))
        i += 1
    rx.append("$")
    try:
        return re.compile("".join(rx), re.S)
    except re.error as e:
        raise PatternError(f"syntax error in pattern: {e}") from None


class _Pattern:
    __slots__ = ("text", "exclusion", "rx")

    def __init__(self, text: str, exclusion: bool):
        self.text = text
        self.exclusion = exclusion
        self.rx = _compile(text)

    def match(self, path: str) -> bool:
        return self.rx.match(path) is not None


class Matcher:
    """Decides whether a context-relative path is ignored; ``ignored("a/b")`` is True when
    the last pattern matching ``a/b`` or one of its parent directories is not an exception."""

    def __init__(self, patterns: list[str]):
        self.patterns: list[_Pattern] = []
        for p in patterns:
            p = p.strip()
            if not p:
                continue
            exclusion = p.startswith("!")
            if exclusion:
                p = p[1:]
                if not p:
                    raise PatternError('illegal exclusion pattern: "!"')
            p = _clean(p)
            self.patterns.append(_Pattern(p, exclusion))
        self.exclusions = any(p.exclusion for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def ignored(self, relpath: str) -> bool:
        path = _clean(relpath.lstrip("/")) if relpath else "."
        if not self.patterns:
            return False
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent not in ("", ".") else []
        matched = False
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue
            hit = pat.match(path)
            if not hit:
                for k in range(1, len(parents) + 1):
                    if pat.match("/".join(parents[:k])):
                        hit = True
                        break
            if hit:
                matched = not pat.exclusion
        return matched

    def may_include_under(self, reldir: str) -> bool:
        """Whether a walker must still descend into the ignored directory ``reldir``: only
        when an exception's text starts with the directory's path (``!vendor/keep``), the
        rule of docker's context walk, which never descends for a wildcard exception such as
        ``!**/*.go`` (checked against the docker CLI: such files are not sent)."""
        if not self.exclusions:
            return False
        prefix = _clean(reldir) + "/"
        return any(pat.exclusion and (pat.text + "/").startswith(prefix)
                   for pat in self.patterns)
