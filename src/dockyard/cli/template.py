"""A subset of Go's text/template, enough for docker's ``--format`` and ``inspect -f``.

Supported: text, ``{{.Field}}`` / ``{{.A.B}}`` on dicts and objects, ``{{.}}``, ``$`` and ``$var``,
string/number/bool literals, pipelines (``|``), parentheses, ``{{- -}}`` trimming, ``if``/
``else if``/``else``/``end``, ``range`` (with ``$i, $v :=``), ``with``, ``$x := ...``, and the
functions docker and Go templates offer: json, index, join, split, lower, upper, title, printf,
print, println, len, truncate, pad, eq, ne, lt, le, gt, ge, and, or, not. Fields that are
callables are called with the arguments that follow (``{{.Label "k"}}``).

Hand-written because the CLI may not import ``re`` (start-up time) and docker users expect
their existing format strings to work.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class TemplateError(Exception):
    """A template failed to parse or execute; the message is one line for the user."""


def template_message(err: TemplateError) -> str:
    """The one line a user sees, always starting with "template:" like Go's errors."""
    text = str(err)
    return text if text.startswith("template:") else f"template: {text}"


# --- printing values the way Go's fmt %v does ----------------------------------------------

_go_json = _json.make_encoder(
    None, None, _json.encode_basestring, None, ":", ",", False, False, True
)


def to_json(value: Any) -> str:
    """Compact JSON as Go's json.Marshal writes it (UTF-8, HTML characters escaped)."""
    try:
        text = "".join(_go_json(_plain(value), 0))
    except (TypeError, ValueError) as err:
        raise TemplateError(f"json: {err}") from None
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _NoValue:
    def __str__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()


def go_str(value: Any) -> str:
    """Format ``value`` like Go's ``%v`` of the equivalent decoded JSON."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted((k, v) for k, v in value.items() if not callable(v))
        return "map[" + " ".join(f"{k}:{go_str(v)}" for k, v in items) + "]"
    return str(value)


def _go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent form from 1e+06."""
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(value)]
    if value == 0:
        return "0"
    mant = repr(abs(value)).split("e")[0].replace(".", "").strip("0")
    digits = max(1, len(mant))
    sci = f"{value:.{digits - 1}e}"
    exp = int(sci.split("e")[1])
    if exp < -4 or exp >= 6:
        return sci
    return f"{value:.{max(0, digits - 1 - exp)}f}"


def truthy(value: Any) -> bool:
    if value is None or value is NO_VALUE:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return True


# --- lexer ----------------------------------------------------------------------------------

_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _split(src: str) -> list[tuple[str, str]]:
    """Text/action pieces: [("text", s) | ("action", inner)], with ``{{-``/``-}}`` trimming."""
    out: list[tuple[str, str]] = []
    i = 0
    while True:
        j = src.find("{{", i)
        if j < 0:
            out.append(("text", src[i:]))
            return out
        text = src[i:j]
        start = j + 2
        if src.startswith("- ", start) or src.startswith("-\t", start) or src.startswith(
                "-\n", start):
            text = text.rstrip(" \t\r\n")
            start += 1
        # find the closing braces outside string literals
        k, quote = start, ""
        while k < len(src):
            c = src[k]
            if quote:
                if c == "\\" and quote == '"':
                    k += 2
                    continue
                if c == quote:
                    quote = ""
            elif c in "\"`'":
                quote = c
            elif src.startswith("}}", k):
                break
            k += 1
        else:
            raise TemplateError("template: unclosed action")
        inner = src[start:k]
        end = k + 2
        trim_right = False
        if inner.endswith(" -") or inner.endswith("\t-") or inner.endswith("\n-"):
            inner = inner[:-1]
            trim_right = True
        out.append(("text", text))
        out.append(("action", inner.strip()))
        i = end
        if trim_right:
            while i < len(src) and src[i] in " \t\r\n":
                i += 1


def _tokens(action: str) -> list[tuple[str, Any]]:
    toks: list[tuple[str, Any]] = []
    i, n = 0, len(action)
    while i < n:
        c = action[i]
        if c in " \t\r\n":
            i += 1
        elif c in "()|,":
            toks.append((c, c))
            i += 1
        elif action.startswith(":=", i):
            toks.append((":=", ":="))
            i += 2
        elif c == "=":
            toks.append((":=", "="))
            i += 1
        elif c == '"':
            j = i + 1
            buf = []
            while j < n and action[j] != '"':
                if action[j] == "\\" and j + 1 < n:
                    esc = action[j + 1]
                    buf.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}.get(
                        esc, "\\" + esc))
                    j += 2
                else:
                    buf.append(action[j])
                    j += 1
            if j >= n:
                raise TemplateError("template: unterminated quoted string")
            toks.append(("str", "".join(buf)))
            i = j + 1
        elif c == "`":
            j = action.find("`", i + 1)
            if j < 0:
                raise TemplateError("template: unterminated raw quoted string")
            toks.append(("str", action[i + 1:j]))
            i = j + 1
        elif c == "'":
            j = action.find("'", i + 1)
            if j < 0:
                raise TemplateError("template: unterminated character constant")
            toks.append(("num", ord(action[i + 1:j][:1] or "\0")))
            i = j + 1
        elif c == "." or c == "$":
            j = i + 1
            while j < n and (action[j] in _IDENT_CHARS or action[j] == "."):
                j += 1
            word = action[i:j]
            if c == "$":
                var, _, rest = word.partition(".")
                toks.append(("field", (var, [p for p in rest.split(".") if p] if rest else [])))
            else:
                toks.append(("field", (None, [p for p in word.split(".") if p])))
            i = j
        elif c.isdigit() or (c in "+-" and i + 1 < n and action[i + 1].isdigit()):
            j = i + 1
            while j < n and (action[j].isalnum() or action[j] in ".+-_"):
                j += 1
            word = action[i:j].replace("_", "")
            try:
                toks.append(("num", int(word, 0)))
            except ValueError:
                try:
                    toks.append(("num", float(word)))
                except ValueError:
                    raise TemplateError(f"template: bad number syntax: {word!r}") from None
            i = j
        elif c in _IDENT_CHARS:
            j = i
            while j < n and action[j] in _IDENT_CHARS:
                j += 1
            word = action[i:j]
            # a method/field chain after a call result: (.X).Y is not supported; idents only
            toks.append(("ident", word))
            i = j
        else:
            raise TemplateError(f"template: unexpected {c!r} in command")
    return toks


# --- parser ---------------------------------------------------------------------------------
# Nodes are tuples: ("text", s) ("action", pipe) ("if"|"with", pipe, body, else)
# ("range", pipe, body, else).  pipe = (decl_vars, is_assign, [cmd...]); cmd = [arg...];
# arg = ("field", (var, path)) | ("str", s) | ("num", n) | ("ident", name) | ("pipe", pipe)


class _Parser:
    def __init__(self, src: str):
        self.pieces = _split(src)
        self.pos = 0

    def parse(self) -> list:
        body, stop = self.parse_list()
        if stop is not None:
            raise TemplateError(f"template: unexpected {{{{{stop[0]}}}}}")
        return body

    def parse_list(self) -> tuple[list, tuple | None]:
        nodes: list = []
        while self.pos < len(self.pieces):
            kind, value = self.pieces[self.pos]
            self.pos += 1
            if kind == "text":
                if value:
                    nodes.append(("text", value))
                continue
            if value.startswith("/*"):
                continue
            word = value.split(None, 1)[0] if value else ""
            rest = value[len(word):].strip()
            if word in ("end", "else"):
                return nodes, (word, rest)
            if word in ("if", "with", "range"):
                nodes.append(self.parse_block(word, rest))
            elif word in ("define", "template", "block"):
                raise TemplateError(f"template: {{{{{word}}}}} is not supported")
            else:
                nodes.append(("action", self.parse_pipe(_tokens(value))))
        return nodes, None

    def parse_block(self, word: str, rest: str) -> tuple:
        if not rest:
            raise TemplateError(f"template: missing value for {word}")
        pipe = self.parse_pipe(_tokens(rest))
        body, stop = self.parse_list()
        else_body: list = []
        if stop is None:
            raise TemplateError(f"template: unexpected EOF in {word}")
        if stop[0] == "else":
            if stop[1]:  # else if ... / else with ...
                sub_word = stop[1].split(None, 1)[0]
                if sub_word not in ("if", "with"):
                    raise TemplateError("template: unexpected else clause")
                else_body = [self.parse_block(sub_word, stop[1][len(sub_word):].strip())]
                return (word, pipe, body, else_body)
            else_body, stop = self.parse_list()
            if stop is None or stop[0] != "end":
                raise TemplateError(f"template: expected end in {word}")
        return (word, pipe, body, else_body)

    def parse_pipe(self, toks: list) -> tuple:
        decl: list[str] = []
        assign = False
        # $x := ...   or   $i, $v := ...
        k = 0
        names = []
        while k < len(toks) and toks[k][0] == "field" and toks[k][1][0] and not toks[k][1][1]:
            names.append(toks[k][1][0])
            k += 1
            if k < len(toks) and toks[k][0] == ",":
                k += 1
                continue
            break
        if names and k < len(toks) and toks[k][0] == ":=":
            decl, assign = names, toks[k][1] == "="
            toks = toks[k + 1:]
        cmds: list[list] = []
        cur: list = []
        i = 0
        while i < len(toks):
            kind, value = toks[i]
            if kind == "|":
                if not cur:
                    raise TemplateError("template: missing command in pipeline")
                cmds.append(cur)
                cur = []
            elif kind == "(":
                depth, j = 1, i + 1
                while j < len(toks) and depth:
                    if toks[j][0] == "(":
                        depth += 1
                    elif toks[j][0] == ")":
                        depth -= 1
                    j += 1
                if depth:
                    raise TemplateError("template: unclosed left paren")
                cur.append(("pipe", self.parse_pipe(toks[i + 1:j - 1])))
                i = j
                continue
            elif kind in (")", ",", ":="):
                raise TemplateError(f"template: unexpected {value!r} in command")
            else:
                cur.append((kind, value))
            i += 1
        if not cur:
            raise TemplateError("template: missing value for command")
        cmds.append(cur)
        return (decl, assign, cmds)


# --- evaluation -----------------------------------------------------------------------------


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, dict):
            item = item.get(key, "")
        elif isinstance(item, list | tuple | str):
            try:
                item = item[int(key)]
            except (IndexError, ValueError, TypeError):
                raise TemplateError(f"error calling index: index out of range: {key}") from None
        elif item is None:
            return None
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(item)}")
    return item


def _printf(fmt: str, *args: Any) -> str:
    out, i, a = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        j = i + 1
        while j < len(fmt) and fmt[j] in "-+# 0123456789.":
            j += 1
        if j >= len(fmt):
            out.append(fmt[i:])
            break
        verb, flags = fmt[j], fmt[i + 1:j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        if a >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[a]
        a += 1
        if verb in "dxXob" and isinstance(arg, int | float) and not isinstance(arg, bool):
            out.append(("%" + flags + ("d" if verb == "b" else verb)) % int(arg))
        elif verb in "feEgG" and isinstance(arg, int | float):
            out.append(("%" + flags + verb) % arg)
        elif verb == "q":
            out.append(to_json(go_str(arg)))
        elif verb == "t":
            out.append(("%" + flags + "s") % go_str(bool(arg)))
        else:
            out.append(("%" + flags + "s") % go_str(arg))
    return "".join(out)


def _cmp(name: str) -> Callable[..., bool]:
    def compare(a: Any, *bs: Any) -> bool:
        if name == "eq":
            return any(a == b for b in bs)
        b = bs[0] if bs else None
        try:
            return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[name]
        except TypeError:
            raise TemplateError(f"error calling {name}: incompatible types for comparison") \
                from None
    return compare


def _and(*args: Any) -> Any:
    for a in args:
        if not truthy(a):
            return a
    return args[-1] if args else None


def _or(*args: Any) -> Any:
    for a in args:
        if truthy(a):
            return a
    return args[-1] if args else None


def _len(v: Any) -> int:
    try:
        return len(v)
    except TypeError:
        raise TemplateError(f"error calling len: len of type {type(v).__name__}") from None


def _truncate(s: Any, n: Any) -> str:
    s = go_str(s)
    return s[:int(n)] if len(s) > int(n) else s


def _split_fn(s: Any, sep: Any) -> list[str]:
    return go_str(s).split(go_str(sep)) if sep != "" else list(go_str(s))


FUNCS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "index": _index,
    "join": lambda items, sep: go_str(sep).join(go_str(i) for i in (items or [])),
    "split": _split_fn,
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": lambda s: go_str(s).title(),
    "printf": _printf,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "len": _len,
    "truncate": _truncate,
    "pad": lambda s, left, right: " " * int(left) + go_str(s) + " " * int(right),
    "eq": _cmp("eq"), "ne": _cmp("ne"), "lt": _cmp("lt"), "le": _cmp("le"),
    "gt": _cmp("gt"), "ge": _cmp("ge"),
    "and": _and, "or": _or, "not": lambda v: not truthy(v),
}
_PASS_THROUGH = {"json", "split", "join", "title", "lower", "upper", "truncate", "pad"}


class Template:
    """A parsed template; ``render(data)`` returns the text (raises TemplateError)."""

    def __init__(self, source: str):
        self.source = source
        self.nodes = _Parser(source).parse()

    def render(self, data: Any, header: bool = False) -> str:
        """Execute on ``data``. ``header=True`` is docker's header pass of ``table`` formats:
        ``data`` maps field names to column titles and docker's formatting functions pass
        their argument through."""
        out: list[str] = []
        _Exec(out, header).run(self.nodes, data, {"$": data})
        return "".join(out)


class _Exec:
    def __init__(self, out: list[str], header: bool):
        self.out = out
        self.header = header

    def run(self, nodes: list, dot: Any, vars: dict[str, Any]) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                self.out.append(node[1])
            elif kind == "action":
                value = self.pipe(node[1], dot, vars)
                if not node[1][0]:
                    self.out.append(go_str(value))
            elif kind in ("if", "with"):
                scope = dict(vars)
                value = self.pipe(node[1], dot, scope)
                if truthy(value):
                    self.run(node[2], value if kind == "with" else dot, scope)
                else:
                    self.run(node[3], dot, scope)
            elif kind == "range":
                self.range(node, dot, vars)

    def range(self, node: tuple, dot: Any, vars: dict[str, Any]) -> None:
        decl, _assign, cmds = node[1]
        value = self.pipe(([], False, cmds), dot, vars)
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list | tuple | str):
            items = list(enumerate(value))
        elif value is None or value is NO_VALUE:
            items = []
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        else:
            raise TemplateError(f"range can't iterate over {go_str(value)}")
        if not items:
            self.run(node[3], dot, vars)
            return
        for key, item in items:
            scope = dict(vars)
            if len(decl) == 1:
                scope[decl[0]] = item
            elif len(decl) >= 2:
                scope[decl[0]], scope[decl[1]] = key, item
            self.run(node[2], item, scope)

    def pipe(self, pipe: tuple, dot: Any, vars: dict[str, Any]) -> Any:
        decl, _assign, cmds = pipe
        value: Any = NO_VALUE
        for i, cmd in enumerate(cmds):
            value = self.command(cmd, dot, vars, value if i else NO_VALUE, i > 0)
        if decl:
            vars[decl[-1]] = value
        return value

    def command(self, cmd: list, dot: Any, vars: dict[str, Any], prev: Any,
                piped: bool) -> Any:
        head = cmd[0]
        args = [self.arg(a, dot, vars) for a in cmd[1:]]
        if piped:
            args.append(prev)
        if head[0] == "ident":
            name = head[1]
            if name in ("true", "false"):
                return name == "true"
            if name == "nil":
                return None
            fn = FUNCS.get(name)
            if fn is None:
                raise TemplateError(f'template: function "{name}" not defined')
            if self.header and name in _PASS_THROUGH:
                return args[0] if args else ""
            try:
                return fn(*args)
            except TypeError:
                raise TemplateError(f"wrong number of args for {name}") from None
        if head[0] == "field":
            return self.field(head[1], dot, vars, args)
        if args:
            raise TemplateError("template: can't give argument to non-function")
        return self.arg(head, dot, vars)

    def arg(self, arg: tuple, dot: Any, vars: dict[str, Any]) -> Any:
        kind, value = arg
        if kind in ("str", "num"):
            return value
        if kind == "pipe":
            return self.pipe(value, dot, dict(vars))
        if kind == "field":
            return self.field(value, dot, vars, [])
        if kind == "ident":
            return self.command([arg], dot, vars, NO_VALUE, False)
        raise TemplateError("template: bad argument")

    def field(self, ref: tuple, dot: Any, vars: dict[str, Any], args: list) -> Any:
        var, path = ref
        if var is not None:
            if var not in vars:
                raise TemplateError(f"template: undefined variable: {var}")
            value = vars[var]
        else:
            value = dot
        for n, name in enumerate(path):
            last = n == len(path) - 1
            if isinstance(value, dict):
                value = value.get(name, NO_VALUE)
            elif value is None or value is NO_VALUE:
                if self.header:
                    return ""
                raise TemplateError(f"template: nil pointer evaluating .{name}")
            elif hasattr(value, name) and not name.startswith("_"):
                value = getattr(value, name)
            else:
                raise TemplateError(
                    f"template: can't evaluate field {name} in type {type(value).__name__}")
            if callable(value):
                if self.header:
                    return ""
                value = value(*(args if last else []))
        return value


def render(source: str, data: Any) -> str:
    """Parse and execute in one go (for one-off formats such as ``inspect -f``)."""
    return Template(source).render(data)
