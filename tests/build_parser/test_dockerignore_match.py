""".dockerignore: Docker's documented examples and Go filepath.Match corner cases."""

import pytest

from dockyard.build.dockerignore import Matcher, PatternError, read_patterns


def test_read_patterns_cleans_like_docker():
    text = ("\ufeff# comment\n"
            "   \n"
            "/abs/path\n"
            "./rel/./x/\n"
            "a/../b\n"
            "  spaced  \n"
            "! negated/\n"
            " # not a comment (only a leading # is)\n"
            "!/rooted\n"
            "//double\n")
    assert read_patterns(text) == ["abs/path", "rel/x", "b", "spaced", "!negated",
                                   "# not a comment (only a leading # is)", "!rooted", "double"]


def matcher(text: str) -> Matcher:
    return Matcher(read_patterns(text))


# (.dockerignore, {path: ignored?}) — the examples of docker's documentation first
CASES = [
    ("# comment\n*/temp*\n*/*/temp*\ntemp?\n", {
        "somedir/temporary.txt": True, "somedir/temp": True, "somedir/temp/inner": True,
        "somedir/subdir/temporary.txt": True, "tempa": True, "tempb": True,
        "temp": False, "tempab": False, "temporary.txt": False, "a/b/c/temp": False,
    }),
    ("**/*.go\n", {"main.go": True, "a/b/c.go": True, "a/go": False, "x.gopher": False}),
    ("*.md\n!README.md\n", {"CHANGES.md": True, "README.md": False, "docs/x.md": False}),
    ("*.md\n!README*.md\nREADME-secret.md\n", {
        "README.md": False, "README-x.md": False, "README-secret.md": True, "a.md": True}),
    ("*.md\nREADME-secret.md\n!README*.md\n", {
        "README.md": False, "README-secret.md": False, "a.md": True}),
    # a directory pattern ignores everything under it
    ("node_modules\n", {"node_modules": True, "node_modules/x/y.js": True,
                        "src/node_modules": False, "node_modules2": False}),
    ("**/node_modules\n", {"node_modules/a": True, "src/node_modules/a": True}),
    ("build/\n", {"build": True, "build/out": True}),
    ("/abs\n", {"abs": True, "x/abs": False}),
    ("**\n!keep\n", {"anything": True, "deep/er": True, "keep": False}),
    ("a/**\n", {"a": False, "a/b": True, "a/b/c": True}),
    ("a/**/z\n", {"a/z": True, "a/b/z": True, "a/b/c/z": True, "a/b/zz": False}),
    ("*\n!*.txt\n", {"x.txt": False, "y.bin": True, "d/x.txt": True}),
    ("[a-c]?.log\n", {"ab.log": True, "cz.log": True, "dz.log": False, "a.log": False}),
    ("[^a]x\n", {"bx": True, "ax": False}),
    ("\\*star\n", {"*star": True, "xstar": False}),
    ("dir\n!dir/keep\n", {"dir/drop": True, "dir/keep": False, "dir/keep/sub": False}),
    ("file.(txt)\n", {"file.(txt)": True, "file.txt": False}),
    ("a+b\n", {"a+b": True, "aab": False}),
    ("$x\n", {"$x": True}),
    ("", {"anything": False}),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_matching(text, expected):
    m = matcher(text)
    got = {path: m.ignored(path) for path in expected}
    assert got == expected


@pytest.mark.parametrize("patterns", [["!"], ["[abc"], ["a\\"], ["[]"], ["[-a]"], ["[a-]"], ["[]a]"]])
def test_bad_patterns(patterns):
    with pytest.raises(PatternError):
        Matcher(patterns)


def test_descending_into_ignored_directories():
    m = matcher("vendor\n!vendor/keep.txt\n")
    assert m.ignored("vendor") and m.may_include_under("vendor")
    assert not m.may_include_under("other")
    assert not matcher("vendor\n").may_include_under("vendor")
    # docker's walk does not descend for a wildcard exception: vendor/x.go is not sent
    assert not matcher("vendor\n!**/*.go\n").may_include_under("vendor")
