"""Dockerfile parsing: a corpus of snippets and the errors docker 20.10's builder gives for them.

Every error text below was taken from ``DOCKER_BUILDKIT=0 docker build`` against dockerd
20.10; the parser adds the line number the same way (``dockerfile parse error line N: ...``).
"""

import pytest

from dockyard.build.dockerfile import DockerfileError, healthcheck_config, parse, parse_duration
from dockyard.errors import InvalidArgument


def only(text: str):
    """The instructions of the single stage of ``text`` (FROM excluded)."""
    df = parse(text)
    assert len(df.stages) == 1
    return df.stages[0].instructions


def test_stages_global_args_and_directives():
    df = parse("# syntax=docker/dockerfile:1\n"
               "ARG BASE=busybox\n"
               "ARG TAG\n"
               "FROM --platform=linux/amd64 $BASE:${TAG} AS Build\n"
               "RUN make\n"
               "FROM scratch\n"
               "COPY --from=build /out /out\n")
    assert df.syntax == "docker/dockerfile:1"
    assert df.escape == "\\"
    assert [a.pairs for a in df.global_args] == [[("BASE", "busybox")], [("TAG", None)]]
    first, second = df.stages
    assert (first.index, first.name, first.base, first.platform, first.lineno) == \
        (0, "build", "$BASE:${TAG}", "linux/amd64", 4)
    assert (second.index, second.name, second.base) == (1, None, "scratch")
    assert second.instructions[0].flags == {"from": ["build"]}
    assert df.stage("BUILD") is first and df.stage("1") is second and df.stage("x") is None


@pytest.mark.parametrize("text, cmd, args, json_form", [
    ("RUN echo hi", "RUN", ["echo hi"], False),
    ('RUN ["echo", "hi"]', "RUN", ["echo", "hi"], True),
    ('CMD ["json"] trailing', "CMD", ["json"], True),  # Go's decoder stops after the value
    ("CMD ['single', 'quotes']", "CMD", ["['single', 'quotes']"], False),
    ('ENTRYPOINT [ "a" , "b" ]   ', "ENTRYPOINT", ["a", "b"], True),
    ("CMD", "CMD", [], False),
    ("CMD [not json", "CMD", ["[not json"], False),
    ("EXPOSE 80 443/udp", "EXPOSE", ["80", "443/udp"], False),
    ("VOLUME /a /b", "VOLUME", ["/a", "/b"], False),
    ('VOLUME ["/c", "/d e"]', "VOLUME", ["/c", "/d e"], True),
    ("USER app:app", "USER", ["app:app"], False),
    ("USER a b", "USER", ["a b"], False),
    ("WORKDIR /srv/app dir", "WORKDIR", ["/srv/app dir"], False),
    ("STOPSIGNAL SIGKILL", "STOPSIGNAL", ["SIGKILL"], False),
    ('SHELL ["/bin/bash", "-c"]', "SHELL", ["/bin/bash", "-c"], True),
    ("MAINTAINER  Some One <a@b.c>", "MAINTAINER", ["Some One <a@b.c>"], False),
    ("COPY a b /c/", "COPY", ["a", "b", "/c/"], False),
    ('COPY ["a b", "/c d/"]', "COPY", ["a b", "/c d/"], True),
    ("ADD http://x/y.tgz /", "ADD", ["http://x/y.tgz", "/"], False),
    ("run lower case", "RUN", ["lower case"], False),
])
def test_argument_forms(text, cmd, args, json_form):
    (inst,) = only("FROM scratch\n" + text + "\n")
    assert (inst.cmd, inst.args, inst.json_form) == (cmd, args, json_form)
    assert inst.lineno == 2 and inst.original == text.strip()


@pytest.mark.parametrize("text, pairs", [
    ("ENV A=1 B=2", [("A", "1"), ("B", "2")]),
    ('ENV B="x y" C=\'$A\' D=\\$A', [("B", '"x y"'), ("C", "'$A'"), ("D", "\\$A")]),
    ("ENV C hello   world", [("C", "hello   world")]),
    ('ENV I a  b   "c d"', [("I", 'a  b   "c d"')]),
    ("LABEL a=1 \"l 2\"='v 2'", [("a", "1"), ('"l 2"', "'v 2'")]),
    ("LABEL version 1.0", [("version", "1.0")]),
    ("ARG A", [("A", None)]),
    ("ARG A=1 B C=", [("A", "1"), ("B", None), ("C", "")]),
    ('ARG MSG="hello world"', [("MSG", '"hello world"')]),
])
def test_key_value_instructions(text, pairs):
    (inst,) = only("FROM scratch\n" + text + "\n")
    assert inst.pairs == pairs


def test_flags():
    insts = only("FROM scratch\n"
                 "COPY --chown=1:2 --chmod=755 --from=stage --link a /b\n"
                 "RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t "
                 "--network=none make\n"
                 "ADD --chown=\"app user\" x /y\n"
                 "COPY --link=false -- --weird /d\n")
    assert insts[0].flags == {"chown": ["1:2"], "chmod": ["755"], "from": ["stage"],
                              "link": ["true"]}
    assert insts[0].args == ["a", "/b"]
    assert insts[1].flags == {"mount": ["type=cache,target=/c", "type=tmpfs,target=/t"],
                              "network": ["none"]}
    assert insts[1].args == ["make"]
    assert insts[2].flag("chown") == "app user"
    assert insts[3].flags == {"link": ["false"]} and insts[3].args == ["--weird", "/d"]


def test_continuations_comments_and_empty_lines():
    text = ("FROM scratch\n"
            "   LABEL a=1 \\\n"
            "      b=2\n"
            "# comment\n"
            "ENV X=1 \\\n"
            "# inner comment\n"
            "\n"
            "    Y=2\n"
            "RUN echo a \\   \n"
            "    && echo b\n"
            "\n"
            "  # indented comment\n"
            "RUN a\\\n")  # a continuation at end of file ends the instruction
    insts = only(text)
    assert [i.original for i in insts] == ["LABEL a=1       b=2", "ENV X=1     Y=2",
                                          "RUN echo a     && echo b", "RUN a"]
    assert [(i.lineno, i.end_lineno) for i in insts] == [(2, 3), (5, 8), (9, 10), (13, 13)]
    assert insts[1].pairs == [("X", "1"), ("Y", "2")]


def test_escape_directive():
    text = ("# escape=`\n"
            "\n"
            "FROM scratch\n"
            "ENV path C:\\dir\n"
            "WORKDIR C:\\x `\n"
            "  \\y\n"
            "RUN echo `\n"
            "  done\n")
    df = parse(text)
    assert df.escape == "`"
    insts = df.stages[0].instructions
    assert insts[0].pairs == [("path", "C:\\dir")]
    assert insts[1].args == ["C:\\x   \\y"]
    assert insts[2].args == ["echo   done"]


@pytest.mark.parametrize("text, escape, syntax", [
    ("#escape=`\nFROM scratch\n", "`", None),
    ("# ESCAPE = ` \nFROM scratch\n", "`", None),
    ("# syntax=x/y\n# escape=`\nFROM scratch\n", "`", "x/y"),
    ("# hello\n# escape=`\nFROM scratch\n", "\\", None),  # after a comment: just a comment
    ("\n# escape=`\nFROM scratch\n", "\\", None),  # after an empty line: a comment
    ("FROM scratch\n# escape=`\n", "\\", None),  # after an instruction: a comment
    ("# unknown=1\n# escape=`\nFROM scratch\n", "\\", None),
    ("\ufeff# escape=`\nFROM scratch\n", "`", None),  # a UTF-8 BOM is skipped
])
def test_directives_only_at_the_top(text, escape, syntax):
    df = parse(text)
    assert (df.escape, df.syntax) == (escape, syntax)


def test_crlf_line_endings():
    insts = only("FROM scratch\r\nRUN echo a \\\r\n  b\r\nENV A=1\r\n")
    assert insts[0].args == ["echo a   b"] and insts[1].pairs == [("A", "1")]


def test_heredocs():
    text = ("FROM scratch\n"
            "RUN <<EOF\n"
            "echo $HOME\n"
            "  indented\n"
            "EOF\n"
            "RUN <<-EOT cat > /a && cat <<'RAW' > /b\n"
            "\t\ttabbed\n"
            "\tEOT\n"
            "no $expansion\n"
            "RAW\n"
            'COPY <<one <<"two" /dest/\n'
            "1\n"
            "one\n"
            "2\n"
            "two\n"
            "RUN echo '<<NOTADOC' \"<<NOR\"\n"
            'RUN ["sh", "-c", "<<NOTJSON"]\n'
            "ONBUILD RUN <<X\n"
            "x\n"
            "X\n"
            "COPY <<EOF /empty\n"
            "EOF\n")
    insts = only(text)
    run1, run2, copy, plain, jsonrun, onbuild, empty = insts
    assert run1.args == ["<<EOF"]
    assert [(h.name, h.content, h.expand, h.chomp) for h in run1.heredocs] == \
        [("EOF", "echo $HOME\n  indented\n", True, False)]
    assert [(h.name, h.content, h.expand, h.chomp) for h in run2.heredocs] == \
        [("EOT", "tabbed\n", True, True), ("RAW", "no $expansion\n", False, False)]
    assert copy.args == ["<<one", '<<"two"', "/dest/"]
    assert [(h.name, h.content, h.expand) for h in copy.heredocs] == \
        [("one", "1\n", True), ("two", "2\n", False)]
    assert plain.heredocs == [] and jsonrun.heredocs == []
    assert onbuild.sub is not None and onbuild.sub.heredocs[0].content == "x\n"
    assert (empty.lineno, empty.end_lineno, empty.heredocs[0].content) == (21, 22, "")
    assert [i.lineno for i in insts] == [2, 6, 11, 16, 17, 18, 21]


def test_onbuild_and_healthcheck():
    insts = only("FROM scratch\n"
                 "ONBUILD   LABEL  x=y\n"
                 "HEALTHCHECK --interval=5s --timeout=1m30s --start-period=1.5s --retries=3 "
                 "  CMD   echo hi\n"
                 'HEALTHCHECK CMD ["/bin/check", "-q"]\n'
                 "HEALTHCHECK NONE\n")
    onbuild, shell_hc, exec_hc, none = insts
    assert onbuild.args == ["LABEL  x=y"]
    assert onbuild.sub is not None and onbuild.sub.cmd == "LABEL"
    assert onbuild.sub.pairs == [("x", "y")]
    assert shell_hc.sub is not None and shell_hc.sub.args == ["echo hi"]
    assert healthcheck_config(shell_hc) == {
        "Test": ["CMD-SHELL", "echo hi"], "Interval": 5_000_000_000,
        "Timeout": 90_000_000_000, "StartPeriod": 1_500_000_000, "Retries": 3}
    assert healthcheck_config(exec_hc) == {"Test": ["CMD", "/bin/check", "-q"]}
    assert none.args == ["NONE"] and healthcheck_config(none) == {"Test": ["NONE"]}


@pytest.mark.parametrize("value, ns", [
    ("1s", 10**9), ("1m30s", 90 * 10**9), ("1.5h", 5400 * 10**9), ("300ms", 3 * 10**8),
    ("2us", 2000), ("10ns", 10), ("0", 0), (".5s", 5 * 10**8), ("1h2m3s4ms", 3723004000000),
])
def test_go_durations(value, ns):
    assert parse_duration(value) == ns


@pytest.mark.parametrize("value", ["", "abc", "1", "1x", "s", "1.s.", "--1s"])
def test_bad_go_durations(value):
    with pytest.raises(DockerfileError, match="time: invalid duration"):
        parse_duration(value)


# (Dockerfile, docker's message, line) — messages as dockerd 20.10 prints them
ERRORS = [
    ("FROM scratch\nFOO bar\n", "dockerfile parse error line 2: unknown instruction: FOO", 2),
    ("FROM scratch\nfoo bar\n", "dockerfile parse error line 2: unknown instruction: FOO", 2),
    ("FROM scratch\nFROM a b\n",
     "dockerfile parse error line 2: FROM requires either one or three arguments", 2),
    ("FROM a b c d\n",
     "dockerfile parse error line 1: FROM requires either one or three arguments", 1),
    ("FROM\n", "dockerfile parse error line 1: FROM requires either one or three arguments", 1),
    ("FROM scratch AS 1x\n", 'dockerfile parse error line 1: invalid name for build stage: '
     '"1x", name can\'t start with a number or contain symbols', 1),
    ("ENV a b\n", "no build stage in current context", 1),
    ("ARG A\nRUN x\nFROM scratch\n", "no build stage in current context", 2),
    ("FROM scratch\nSHELL sh -c\n",
     "dockerfile parse error line 2: SHELL requires the arguments to be in JSON form", 2),
    ("FROM scratch\nSHELL []\n",
     "dockerfile parse error line 2: SHELL requires at least one argument", 2),
    ("# escape=`\n# escape=`\nFROM scratch\n",
     "failed to parse Dockerfile: only one escape parser directive can be used", None),
    ("# escape=x\nFROM scratch\n",
     "failed to parse Dockerfile: invalid ESCAPE 'x'. Must be ` or \\", None),
    ("# just a comment\n\n", "failed to parse Dockerfile: file with no instructions", None),
    ("", "the Dockerfile (Dockerfile) cannot be empty", None),
    ("FROM scratch\nHEALTHCHECK --retries=0 CMD x\n",
     "dockerfile parse error line 2: --retries must be at least 1 (not 0)", 2),
    ("FROM scratch\nHEALTHCHECK --interval=0s CMD x\n",
     'dockerfile parse error line 2: Interval "interval" cannot be less than 1ms', 2),
    ("FROM scratch\nHEALTHCHECK --interval=abc CMD x\n",
     'dockerfile parse error line 2: time: invalid duration "abc"', 2),
    ("FROM scratch\nHEALTHCHECK NONE x\n",
     "dockerfile parse error line 2: HEALTHCHECK NONE takes no arguments", 2),
    ("FROM scratch\nHEALTHCHECK FOO x\n",
     'dockerfile parse error line 2: Unknown type "FOO" in HEALTHCHECK (try CMD)', 2),
    ("FROM scratch\nHEALTHCHECK CMD\n",
     "dockerfile parse error line 2: Missing command after HEALTHCHECK CMD", 2),
    ("FROM scratch\nCOPY --foo=1 a /b\n", "dockerfile parse error line 2: Unknown flag: foo", 2),
    ("FROM scratch\nCOPY --from a /b\n",
     "dockerfile parse error line 2: Missing a value on flag: from", 2),
    ("FROM scratch\nCOPY --chown=1 --chown=2 a /b\n",
     "dockerfile parse error line 2: Duplicate flag specified: chown", 2),
    ("FROM scratch\nENV --x=1 A=1\n", "dockerfile parse error line 2: Unknown flag: x", 2),
    ("FROM scratch\nCOPY --link=maybe a /b\n", "dockerfile parse error line 2: expecting "
     "boolean value for flag link, not: maybe", 2),
    ("FROM scratch\nENV a\n", "dockerfile parse error line 2: ENV must have two arguments", 2),
    ("FROM scratch\nENV a=1 b\n", "dockerfile parse error line 2: Syntax error - can't find = "
     'in "b". Must be of the form: name=value', 2),
    ("FROM scratch\nENV =1\n", "dockerfile parse error line 2: ENV names can not be blank", 2),
    ("FROM scratch\nENV\n", "dockerfile parse error line 2: ENV requires at least one argument",
     2),
    ("FROM scratch\nARG =1\n", "dockerfile parse error line 2: ARG names can not be blank", 2),
    ("FROM scratch\nONBUILD FROM x\n",
     "dockerfile parse error line 2: FROM isn't allowed as an ONBUILD trigger", 2),
    ("FROM scratch\nONBUILD ONBUILD RUN x\n", "dockerfile parse error line 2: Chaining "
     "ONBUILD via `ONBUILD ONBUILD` isn't allowed", 2),
    ("FROM scratch\nONBUILD BOGUS x\n",
     "dockerfile parse error line 2: unknown instruction: BOGUS", 2),
    ("FROM scratch\nCOPY a\n", "dockerfile parse error line 2: COPY requires at least two "
     "arguments, but only one was provided. Destination could not be determined", 2),
    ("FROM scratch\nADD\n", "dockerfile parse error line 2: ADD requires at least two "
     "arguments, but only one was provided. Destination could not be determined", 2),
    ('FROM scratch\nCMD ["a", 1]\n', "dockerfile parse error line 2: when using JSON array "
     "syntax, arrays must be comprised of strings only", 2),
    ("FROM scratch\nEXPOSE\n", "dockerfile parse error line 2: EXPOSE requires at least one "
     "argument", 2),
    ("FROM scratch\nLABEL\n", "dockerfile parse error line 2: LABEL requires at least one "
     "argument", 2),
    ("FROM scratch\nUSER\n", "dockerfile parse error line 2: USER requires exactly one "
     "argument", 2),
    ("FROM scratch\nWORKDIR\n", "dockerfile parse error line 2: WORKDIR requires exactly one "
     "argument", 2),
    ('FROM scratch\nVOLUME [""]\n', "dockerfile parse error line 2: VOLUME specified can not be "
     "an empty string", 2),
    ("FROM scratch\nRUN <<EOF\nhello\n", "dockerfile parse error line 2: unterminated heredoc",
     2),
    ("FROM scratch\nRUN x\n\nCOPY <<A <<B /d/\na\nA\nb\n",
     "dockerfile parse error line 4: unterminated heredoc", 4),
]


@pytest.mark.parametrize("text, message, line", ERRORS)
def test_errors_as_docker(text, message, line):
    with pytest.raises(DockerfileError) as info:
        parse(text)
    assert str(info.value) == message
    assert info.value.lineno == line
    assert isinstance(info.value, InvalidArgument)  # the API answers 400


def test_custom_name_in_empty_error():
    with pytest.raises(DockerfileError, match=r"the Dockerfile \(build/Dockerfile.dev\) cannot"):
        parse("", name="build/Dockerfile.dev")


CORPUS = """\
# syntax=docker/dockerfile:1.4
ARG GO_VERSION=1.21
ARG ALPINE=3.19

FROM golang:${GO_VERSION}-alpine${ALPINE} AS builder
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \\
    go mod download
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \\
    CGO_ENABLED=0 go build -o /out/app ./cmd/app

FROM alpine:${ALPINE} AS runtime
LABEL org.opencontainers.image.title="app" \\
      org.opencontainers.image.version="1.0"
RUN addgroup -S app && adduser -S app -G app
COPY --from=builder --chown=app:app /out/app /usr/local/bin/app
COPY --chmod=0644 <<EOF /etc/app.conf
listen = ":8080"
EOF
ENV APP_ENV=production \\
    APP_PORT=8080
EXPOSE ${APP_PORT}/tcp
VOLUME ["/var/lib/app"]
USER app
HEALTHCHECK --interval=30s --timeout=3s CMD wget -qO- http://localhost:8080/health || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["--serve"]
"""


def test_realistic_corpus():
    df = parse(CORPUS)
    assert df.syntax == "docker/dockerfile:1.4"
    assert [a.pairs[0][0] for a in df.global_args] == ["GO_VERSION", "ALPINE"]
    assert [s.name for s in df.stages] == ["builder", "runtime"]
    runtime = df.stages[1]
    assert [i.cmd for i in runtime.instructions] == [
        "LABEL", "RUN", "COPY", "COPY", "ENV", "EXPOSE", "VOLUME", "USER", "HEALTHCHECK",
        "STOPSIGNAL", "ENTRYPOINT", "CMD"]
    conf = runtime.instructions[3]
    assert conf.flags == {"chmod": ["0644"]} and conf.heredocs[0].content == 'listen = ":8080"\n'
    env = runtime.instructions[4]
    assert env.pairs == [("APP_ENV", "production"), ("APP_PORT", "8080")]
    assert df.stages[0].instructions[2].flags["mount"] == ["type=cache,target=/go/pkg/mod"]
