"""Variable substitution and quote removal as docker's shell lexer does it.

The ENV table was checked against dockerd 20.10: the values below are what ``docker image
inspect`` shows after building ``ENV V=<word>`` with A=hello, B="x y" set before.
"""

import pytest

from dockyard.build.dockerfile import DockerfileError
from dockyard.build.shell import expand, expand_words, used_vars

ENV = {"A": "hello", "B": "x y", "EMPTY": "", "PORT": "8080"}


@pytest.mark.parametrize("word, value", [
    ("plain", "plain"),
    ("$A", "hello"),
    ("${A}", "hello"),
    ('"x y"', "x y"),
    ("'$A'", "$A"),
    ("\\$A", "$A"),
    ('"$A-${A}"', "hello-hello"),
    ("${NOPE:-def}", "def"),
    ("${EMPTY:-def}", "def"),
    ("${A:-def}", "hello"),
    ("${A:+alt}", "alt"),
    ("${NOPE:+alt}", ""),
    ("${EMPTY:+alt}", ""),
    ("a\\ b", "a b"),
    ('"a\\"b"', 'a"b'),
    ("'a\\b'", "a\\b"),
    ('"a\\b"', "a\\b"),  # inside double quotes only " $ and \ are escapable
    ('"\\\\"', "\\"),
    ("a\\\\b", "a\\b"),
    ("$$", ""),  # $$ is a special parameter a Dockerfile never sets
    ("$1", ""),
    ("$@x", "x"),
    ("${A}_x", "hello_x"),
    ("$A_x", ""),  # the name is A_x
    ('"${A}"\'${A}\'', "hello${A}"),
    ("é$A", "éhello"),
    ('a"b c"d', "ab cd"),
    ("x\\", "x"),  # an escape at the end is dropped
    ('${NOPE:-${NADA:-"q r"}}', "q r"),
    ("$", "$"),
    ("a$", "a$"),
    ("$B", "x y"),
    ("${A:?msg}", "hello"),
    # newer BuildKit forms, accepted here as well
    ("${NOPE-d}", "d"),
    ("${EMPTY-d}", ""),
    ("${A+set}", "set"),
    ("${NOPE+set}", ""),
    ("${A#he}", "llo"),
    ("${A#*l}", "lo"),
    ("${A##*l}", "o"),
    ("${A%l*}", "hel"),
    ("${A%%l*}", "he"),
    ("${A/l/L}", "heLlo"),
    ("${A//l/L}", "heLLo"),
])
def test_expand(word, value):
    assert expand(word, ENV) == value


def test_escape_backtick():
    assert expand("C:\\dir", {}, escape="`") == "C:\\dir"
    assert expand("a` b", {}, escape="`") == "a b"
    assert expand("`$A", ENV, escape="`") == "$A"


def test_env_of_one_instruction_uses_the_previous_environment():
    """``ENV A=1 B=$A`` expands every word with the environment before the instruction —
    what docker does (checked: E="$A-${A}" on the line that sets A gives "-")."""
    before: dict[str, str] = {}
    assert expand('"$A-${A}"', before) == "-"


@pytest.mark.parametrize("word, message", [
    ("${b", "failed to process \"${b\": missing ':' in substitution"),
    ("${", "failed to process \"${\": syntax error: missing '}'"),
    ("${b:-x", "failed to process \"${b:-x\": syntax error: missing '}'"),
    ("${b:x}", "failed to process \"${b:x}\": unsupported modifier (x) in substitution"),
    ("${:}", "failed to process \"${:}\": syntax error: bad substitution"),
    ("${}", "failed to process \"${}\": syntax error: bad substitution"),
    ("${b!}", "failed to process \"${b!}\": missing ':' in substitution"),
    ('"abc', 'failed to process "\\"abc": unexpected end of statement while looking for '
     "matching double-quote"),
    ("'abc", "failed to process \"'abc\": unexpected end of statement while looking for "
     "matching single-quote"),
    ("${b:?}", 'failed to process "${b:?}": b: is not allowed to be unset'),
    ("${EMPTY:?}", 'failed to process "${EMPTY:?}": EMPTY: is not allowed to be empty'),
    ("${b:?oops}", 'failed to process "${b:?oops}": b: oops'),
    ("${b?}", 'failed to process "${b?}": b: is not allowed to be unset'),
])
def test_expand_errors(word, message):
    with pytest.raises(DockerfileError) as info:
        expand(word, ENV)
    assert str(info.value) == message


@pytest.mark.parametrize("text, words", [
    ("a b  c", ["a", "b", "c"]),
    ('"a b" c', ["a b", "c"]),
    ("$B z", ["x", "y", "z"]),  # unquoted expansion splits
    ('"$B" z', ["x y", "z"]),
    ("a\\ b c", ["a b", "c"]),
    ("'' x", ["x"]),
    ("${PORT}/tcp 443", ["8080/tcp", "443"]),
    ("", []),
])
def test_expand_words(text, words):
    assert expand_words(text, ENV) == words


@pytest.mark.parametrize("word, names", [
    ("plain", set()),
    ("$A ${B} ${C:-$D} '$E' \\$F \"$G\"", {"A", "B", "C", "D", "G"}),
    ("${X:+${Y}}", {"X", "Y"}),
    ("${broken", {"broken"}),
])
def test_used_vars(word, names):
    assert used_vars(word) == names


def test_expand_instruction_follows_docker():
    from dockyard.build.dockerfile import parse
    from dockyard.build.shell import expand_instruction

    df = parse("ARG TAG=1\n"
               "FROM img:$TAG AS base\n"
               "ENV A=1 B=$A\n"
               'LABEL "$K"=$A\n'
               "COPY --chown=$U:$G --chmod=$N $SRC <<EOF ${DST}/\n"
               "$A stays in the heredoc\n"
               "EOF\n"
               "RUN echo $A\n"
               "ARG X=${A}x\n"
               "WORKDIR /w/$A dir\n"
               'VOLUME ["$A", "/v"]\n'
               "ENV BAD=${A\n")
    env = {"TAG": "9", "A": "old", "K": "key", "U": "app", "G": "grp", "SRC": "src",
           "DST": "/dst", "N": "755"}
    frm = expand_instruction(df.stages[0].from_instruction, env)
    assert frm.args == ["img:9", "AS", "base"]
    env_i, label, copy, run, arg, workdir, volume, bad = (
        expand_instruction(i, env) if i.cmd != "ENV" or "BAD" not in i.original else i
        for i in df.stages[0].instructions)
    assert env_i.pairs == [("A", "1"), ("B", "old")]  # B sees A from before the line
    assert label.pairs == [("key", "old")]
    assert copy.args == ["src", "<<EOF", "/dst/"]
    assert copy.flags == {"chown": ["app:grp"], "chmod": ["755"]}
    assert copy.heredocs[0].content == "$A stays in the heredoc\n"
    assert run.args == ["echo $A"]
    assert arg.pairs == [("X", "oldx")]
    assert workdir.args == ["/w/old dir"]
    assert volume.args == ["old", "/v"]
    with pytest.raises(DockerfileError) as info:
        expand_instruction(bad, env)
    assert info.value.lineno == 12


def test_parse_instruction_for_onbuild_triggers():
    from dockyard.build.dockerfile import parse_instruction

    inst = parse_instruction("COPY --chown=1 a /b")
    assert (inst.cmd, inst.args, inst.flags) == ("COPY", ["a", "/b"], {"chown": ["1"]})
    with pytest.raises(DockerfileError, match="^unknown instruction: NOPE$"):
        parse_instruction("NOPE x")


@pytest.mark.parametrize("content, value", [
    ('echo "$A" \'${A}\'\n', "echo \"hello\" 'hello'\n"),  # quotes are text in a heredoc
    ("\\$A is literal\n", "$A is literal\n"),
    ("${NOPE:-dflt} $B\n", "dflt x y\n"),
    ("no vars\n", "no vars\n"),
])
def test_expand_heredoc(content, value):
    from dockyard.build.shell import expand_heredoc

    assert expand_heredoc(content, ENV) == value
