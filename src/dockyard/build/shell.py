"""Docker's shell-word lexer: variable substitution and quote removal for Dockerfile words.

Instructions such as COPY, ENV, LABEL, WORKDIR or USER expand ``$V`` themselves (RUN leaves
that to the shell), with the rules of moby/buildkit's ``shell.Lex``: single quotes are
literal, double quotes keep spaces and allow ``$``, the escape character (``\\`` or the
Dockerfile's ``# escape=`` one) escapes anything outside quotes and only ``"``, ``$`` and
itself inside double quotes, an unset variable expands to the empty string, and ``$1``,
``$$`` or ``$@`` name special parameters that a Dockerfile never sets. Reimplemented rather
than delegated to a POSIX shell because the rules differ (no globbing, no command
substitution, words split only where the instruction asks).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from ..humanize import go_quote
from . import dockerfile as _dockerfile

_SPECIAL = set("@*#?-$!0")


def DockerfileError(message: str) -> Exception:  # noqa: N802 - reads like the class it builds
    """The parser's error class (imported lazily: the parser imports this module)."""
    return _dockerfile.DockerfileError(message)



class _Lexer:
    """One pass over one source string; ``used`` collects every variable name referenced."""

    def __init__(self, src: str, env: Mapping[str, str] | None, escape: str, *,
                 raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset: bool = False, skip_quotes: bool = False):
        self.src = src
        self.pos = 0
        self.env = env if env is not None else {}
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.skip_quotes = skip_quotes
        self.used: set[str] = set()

    # -- scanning primitives

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def next(self) -> str:
        if self.pos >= len(self.src):
            return ""
        ch = self.src[self.pos]
        self.pos += 1
        return ch

    def lookup(self, name: str) -> tuple[str, bool]:
        self.used.add(name)
        if name in self.env:
            return self.env[name], True
        return "", False

    # -- the grammar

    def process(self) -> tuple[str, list[str]]:
        try:
            return self.stop_on("")
        except _dockerfile.DockerfileError as e:
            raise DockerfileError(f"failed to process {go_quote(self.src)}: {e}") from None

    def stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if stop and ch == stop:
                self.pos += 1
                return "".join(result), words.get()
            if ch == "'" and not self.skip_quotes:
                tmp = self.single_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            elif ch == '"' and not self.skip_quotes:
                tmp = self.double_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            elif ch == "$":
                tmp = self.dollar()
                result.append(tmp)
                words.add_string(tmp)
            else:
                self.pos += 1
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self.next()
                    if not ch:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise DockerfileError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def single_quote(self) -> str:
        out = []
        ch = self.next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if not ch:
                raise DockerfileError(
                    "unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out = []
        ch = self.next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            ch = self.peek()
            if not ch:
                raise DockerfileError(
                    "unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if not nxt:
                    continue  # an escape at the very end is dropped
                if nxt in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        out = []
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if not out and ch.isdecimal():
                while self.pos < len(self.src) and self.src[self.pos].isdecimal():
                    out.append(self.src[self.pos])
                    self.pos += 1
                return "".join(out)
            if not out and ch in _SPECIAL:
                self.pos += 1
                return ch
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            out.append(ch)
            self.pos += 1
        return "".join(out)

    def dollar(self) -> str:
        self.next()  # the $
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.next()  # the {
        ch = self.peek()
        if not ch:
            raise DockerfileError("syntax error: missing '}'")
        if ch in "{}:":
            raise DockerfileError("syntax error: bad substitution")
        name = self.name()
        if name:
            self.used.add(name)
        ch = self.next()
        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        if ch == ":":
            modifier = self.next()
            word = self.word_until_brace()
            value, found = self.lookup(name)
            if not found and self.skip_unset and modifier in "+-?":
                return "${" + f"{name}:{modifier}{word}" + "}"
            if modifier == "+":
                return word if value else value
            if modifier == "-":
                return value if value else word
            if modifier == "?":
                if not found:
                    raise DockerfileError(f"{name}: {word or 'is not allowed to be unset'}")
                if not value:
                    raise DockerfileError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            raise DockerfileError(f"unsupported modifier ({modifier}) in substitution")
        if ch in ("-", "+", "?"):
            word = self.word_until_brace()
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "${" + f"{name}{ch}{word}" + "}"
            if ch == "-":
                return value if found else word
            if ch == "+":
                return word if found else ""
            if not found:
                raise DockerfileError(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        if ch in ("#", "%"):
            longest = self.peek() == ch
            if longest:
                self.next()
            pattern = self.word_until_brace()
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "${" + name + ch * (2 if longest else 1) + pattern + "}"
            return _trim(value, pattern, prefix=ch == "#", longest=longest)
        if ch == "/":
            replace_all = self.peek() == "/"
            if replace_all:
                self.next()
            pattern = self.word_until("/", allow_end="}")
            repl = "" if self.src[self.pos - 1] == "}" else self.word_until_brace()
            value, found = self.lookup(name)
            return _replace(value, pattern, repl, replace_all)
        raise DockerfileError("missing ':' in substitution")

    def word_until_brace(self) -> str:
        try:
            word, _ = self.stop_on("}")
        except _dockerfile.DockerfileError:
            if self.pos >= len(self.src):
                raise DockerfileError("syntax error: missing '}'") from None
            raise
        return word

    def word_until(self, stop: str, allow_end: str) -> str:
        """The pattern of ``${V/pattern/repl}``: up to ``/`` or, without a replacement, ``}``."""
        out = []
        while True:
            ch = self.peek()
            if not ch:
                raise DockerfileError("syntax error: missing '}'")
            if ch in (stop, allow_end):
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.next()
            if ch == self.escape and self.peek():
                ch = self.next()
            out.append(ch)


class _Words:
    """Word splitting of the expansion result as Docker does (quoted text never splits)."""

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def get(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


def _glob_re(pattern: str) -> str:
    return fnmatch.translate(pattern)[4:-3]  # strip (?s:...)\Z


def _trim(value: str, pattern: str, *, prefix: bool, longest: bool) -> str:
    """``${V#p}`` ``${V##p}`` ``${V%p}`` ``${V%%p}`` with shell glob patterns."""
    rx = re.compile(_glob_re(pattern), re.S)
    n = len(value)
    if prefix:
        cuts = range(n, -1, -1) if longest else range(0, n + 1)
        for i in cuts:
            if rx.fullmatch(value[:i]):
                return value[i:]
    else:
        cuts = range(0, n + 1) if longest else range(n, -1, -1)
        for i in cuts:
            if rx.fullmatch(value[i:]):
                return value[:i]
    return value


def _replace(value: str, pattern: str, repl: str, replace_all: bool) -> str:
    if not pattern:
        return value
    rx = re.compile(_glob_re(pattern), re.S)
    return rx.sub(lambda _m: repl, value, count=0 if replace_all else 1)


def expand(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    """One word with variables substituted and quotes/escapes removed (``ProcessWord``).

    Spaces are kept: ``ENV A="x y"`` gives ``x y``. Raises DockerfileError (no line number;
    the caller knows the instruction) on bad syntax or a ``${V:?message}`` failure.
    """
    return _Lexer(word, env, escape).process()[0]


def expand_words(text: str, env: Mapping[str, str], *, escape: str = "\\") -> list[str]:
    """Expand and split into words as Docker's ``ProcessWords``: unquoted whitespace,
    including whitespace produced by an unquoted ``$V``, separates words."""
    return _Lexer(text, env, escape).process()[1]


def expand_heredoc(content: str, env: Mapping[str, str]) -> str:
    """The body of ``COPY <<EOF`` (an unquoted delimiter) with ``$V``/``${V...}``
    substituted as BuildKit does: quotes are plain text there, ``\\`` still escapes the
    next character (``\\$V`` stays ``$V``). RUN heredocs are not expanded here: the shell
    running them does it."""
    return _Lexer(content, env, "\\", skip_quotes=True).process()[0]


def used_vars(word: str, *, escape: str = "\\") -> set[str]:
    """Every variable name ``word`` references (for the cache key: only the build args an
    instruction uses may invalidate it). Malformed words reference what was read so far."""
    lex = _Lexer(word, {}, escape)
    try:
        lex.stop_on("")
    except _dockerfile.DockerfileError:
        pass
    return lex.used


def raw_words(text: str, *, escape: str = "\\") -> list[str]:
    """Split like the shell but keep quotes and escapes (for heredoc detection)."""
    lex = _Lexer(text, {}, escape, raw_quotes=True, raw_escapes=True, skip_unset=True)
    try:
        return lex.stop_on("")[1]
    except _dockerfile.DockerfileError:
        return []


# Flags whose values docker expands (the rest, like --network, are literal).
_EXPANDED_FLAGS = {"chown", "chmod", "from", "platform", "mount", "checksum"}
# Instructions whose arguments docker expands; RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK and
# ONBUILD leave ``$`` to the shell or to the later build.
_EXPANDED = {"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME",
             "WORKDIR", "ARG"}


def expand_instruction(inst, env: Mapping[str, str], *, escape: str = "\\"):
    """A copy of ``inst`` with what docker substitutes substituted, all against ``env`` as it
    was before the instruction (``ENV A=1 B=$A`` gives B the old A, as docker does):
    each word of COPY/ADD/EXPOSE/VOLUME, the keys and values of ENV/LABEL, ARG defaults,
    the single argument of WORKDIR/USER/STOPSIGNAL, and the --chown/--chmod/--from/
    --platform/--mount flags. Heredoc words of COPY/ADD are left alone. Raises
    DockerfileError (with the instruction's line) on a bad substitution."""
    import copy as _copy

    out = _copy.copy(inst)
    if inst.cmd not in _EXPANDED:
        return out
    heredoc_words = {w for w in inst.args if w.lstrip("0123456789").startswith("<<")} \
        if inst.heredocs else set()

    def one(word: str) -> str:
        return expand(word, env, escape=escape)

    try:
        out.flags = {k: ([one(v) for v in vs] if k in _EXPANDED_FLAGS else list(vs))
                     for k, vs in inst.flags.items()}
        if inst.cmd in ("ENV", "LABEL"):
            out.pairs = [(one(k), one(v) if v is not None else None) for k, v in inst.pairs]
            out.args = [w for kv in out.pairs for w in kv if w is not None]
        elif inst.cmd == "ARG":
            out.pairs = [(k, one(v) if v is not None else None) for k, v in inst.pairs]
        elif inst.cmd == "FROM":
            out.args = [one(inst.args[0]), *inst.args[1:]]
        elif inst.json_form:
            out.args = [one(a) for a in inst.args]
        else:
            out.args = [a if a in heredoc_words else one(a) for a in inst.args]
    except _dockerfile.DockerfileError as e:
        raise _dockerfile.DockerfileError(str(e), inst.lineno) from None
    return out
