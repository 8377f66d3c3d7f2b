"""The Go-template subset behind --format and inspect -f, checked against Go's own output."""

import pytest

from dockyard.cli.template import Template, TemplateError, render, to_json

INSPECT = {
    "Id": "abc123",
    "Name": "/web",
    "State": {"Status": "exited", "ExitCode": 3, "Running": False, "Pid": 0},
    "Config": {"Labels": {"b": "2", "a": "1"}, "Env": ["A=1", "B=2"], "Cmd": ["sh", "-c", "x > y"],
               "Entrypoint": None},
    "Mounts": [],
}


@pytest.mark.parametrize("source, expected", [
    ("{{.State.Status}}", "exited"),
    ("{{.State.ExitCode}}", "3"),
    ("{{.State.Running}}", "false"),
    ("{{.Name}} {{.Id}}", "/web abc123"),
    ("{{json .Config.Cmd}}", '["sh","-c","x \\u003e y"]'),
    ("{{json .State}}", '{"Status":"exited","ExitCode":3,"Running":false,"Pid":0}'),
    ("{{.Config.Entrypoint}}", "<nil>"),
    ("{{.Config.Nope}}", "<no value>"),
    ('{{index .Config.Labels "a"}}', "1"),
    ('{{index .Config.Labels "zz"}}', ""),
    ("{{index .Config.Env 1}}", "B=2"),
    ("{{.Config.Labels}}", "map[a:1 b:2]"),
    ("{{.Config.Env}}", "[A=1 B=2]"),
    ('{{join .Config.Env ","}}', "A=1,B=2"),
    ("{{range .Config.Env}}<{{.}}>{{end}}", "<A=1><B=2>"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}", "a=1 b=2 "),
    ("{{range .Mounts}}x{{else}}none{{end}}", "none"),
    ('{{if eq .State.Status "running"}}up{{else if eq .State.ExitCode 3}}three{{else}}?{{end}}',
     "three"),
    ("{{if .State.Running}}yes{{else}}no{{end}}", "no"),
    ("{{with .State}}{{.Status}}{{end}}", "exited"),
    ("{{upper .State.Status}} {{lower \"AbC\"}}", "EXITED abc"),
    ("{{.State.Status | upper}}", "EXITED"),
    ('{{printf "%s:%d" .Name .State.ExitCode}}', "/web:3"),
    ('{{printf "%q" .Name}}', '"/web"'),
    ("{{len .Config.Env}}", "2"),
    ("{{$n := .Name}}{{$n}}", "/web"),
    ("{{range .Config.Env}}{{$.Name}}{{end}}", "/web/web"),
    ("a {{- .Name -}} b", "a/webb"),
    ("{{/* comment */}}x", "x"),
    ("{{if and .Name (not .State.Running)}}ok{{end}}", "ok"),
    ('{{split "a:b" ":"}}', "[a b]"),
    ("{{title \"hello world\"}}", "Hello World"),
])
def test_render_matches_go(source, expected):
    assert render(source, INSPECT) == expected


@pytest.mark.parametrize("bad", ["{{.Name", "{{if .Name}}x", "{{end}}", "{{nosuchfunc .Name}}",
                                 '{{"unterminated}}'])
def test_bad_templates_raise_template_error(bad):
    with pytest.raises(TemplateError):
        render(bad, INSPECT)


def test_field_of_a_string_is_an_error_not_a_crash():
    with pytest.raises(TemplateError):
        render("{{.Name.Foo}}", INSPECT)


def test_callable_fields_take_arguments_like_ps_label():
    row = {"Label": lambda k: {"com.x": "y"}.get(k, "")}
    assert render('{{.Label "com.x"}}|{{.Label "other"}}', row) == "y|"


def test_header_pass_substitutes_column_titles():
    tmpl = Template("{{.ID}}\t{{upper .Names}}")
    assert tmpl.render({"ID": "CONTAINER ID", "Names": "NAMES"}, header=True) == \
        "CONTAINER ID\tNAMES"


def test_json_escapes_html_like_go_and_keeps_unicode():
    assert to_json({"a": "<&>é"}) == '{"a":"\\u003c\\u0026\\u003eé"}'


def test_floats_print_like_go():
    assert render("{{.A}} {{.B}} {{.C}}", {"A": 1.5, "B": 1234567.0, "C": 100000.0}) == \
        "1.5 1.234567e+06 100000"
