"""docker's table alignment, human durations and sizes, truncation."""

import pytest

from dockyard.cli.render import (
    ellipsis,
    format_ports,
    go_quote,
    human_duration,
    human_size,
    parse_rfc3339,
    short_id,
    since,
    tabulate,
)


def test_tabulate_pads_like_docker_tabwriter():
    lines = ["CONTAINER ID\tIMAGE\tNAMES", "0123456789ab\tbusybox\tweb"]
    assert tabulate(lines).split("\n") == [
        "CONTAINER ID   IMAGE     NAMES",
        "0123456789ab   busybox   web",
    ]


def test_tabulate_last_cell_is_not_padded_and_widths_grow():
    out = tabulate(["A\tB", "a-very-long-cell\tx"]).split("\n")
    assert out == ["A                  B", "a-very-long-cell   x"]


def test_tabulate_without_tabs_is_identity():
    assert tabulate(["abc", "d"]) == "abc\nd"


@pytest.mark.parametrize("seconds, text", [
    (0.5, "Less than a second"), (1, "1 second"), (2, "2 seconds"), (59, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"),
    (59 * 60, "59 minutes"), (3600, "About an hour"), (2 * 3600, "2 hours"),
    (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (14 * 86400, "2 weeks"),
    (61 * 86400, "2 months"), (3 * 365 * 86400, "3 years"),
])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_since_appends_ago():
    assert since(100.0, now=103.0) == "3 seconds ago"


@pytest.mark.parametrize("size, text", [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (4_860_000, "4.86MB"), (1_981_234, "1.98MB"),
    (123_456_789, "123MB"), (1_500_000_000, "1.5GB"), (999_999, "1e+03kB"),
])
def test_human_size_is_decimal_three_digits(size, text):
    assert human_size(size) == text


def test_ellipsis_and_quote_make_the_ps_command_column():
    assert ellipsis(go_quote("sh -c 'echo out; echo err'"), 20) == "\"sh -c 'echo out; e…"
    assert ellipsis(go_quote("true"), 20) == '"true"'
    assert go_quote('a"b\n') == '"a\\"b\\n"'


def test_short_id():
    assert short_id("sha256:" + "ab" * 32) == "abababababab"
    assert short_id("0123456789abcdef") == "0123456789ab"


def test_rfc3339():
    assert parse_rfc3339("1970-01-01T00:00:10Z") == 10
    assert parse_rfc3339("2024-01-02T03:04:05.5+01:00") == 1704161045.5
    assert parse_rfc3339("0001-01-01T00:00:00Z") is None
    assert parse_rfc3339("garbage") is None


def test_ports_column():
    ports = [{"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp", "IP": "0.0.0.0"},
             {"PrivatePort": 443, "Type": "tcp"}]
    assert format_ports(ports) == "0.0.0.0:8080->80/tcp, 443/tcp"
