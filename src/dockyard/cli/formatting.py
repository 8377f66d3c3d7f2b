"""docker's ``--format`` handling for listings: ``table ...`` with headers, plain templates, json.

Commands turn each API object into a flat dict of display strings (the docker CLI's
"formatter context": ``.ID``, ``.Names``, ``.RunningFor`` ...) and a dict of column titles;
this module does the rest, so ``ps``, ``images`` and friends behave the same way.
"""

from __future__ import annotations

import sys

from dockyard.cli.base import CLIError
from dockyard.cli.render import tabulate
from dockyard.cli.template import Template, TemplateError, template_message, to_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def compile_format(fmt: str) -> tuple[bool, Template]:
    """(is_table, template) for a user format; docker's ``\\t``/``\\n`` escapes included."""
    table = fmt.startswith("table")
    body = fmt[5:].strip() if table else fmt
    if body == "json" or (not table and fmt == "json"):
        body = "{{json .}}"
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    try:
        return table, Template(body)
    except TemplateError as e:
        raise CLIError(f"Template parsing error: {e}", 1) from None


def write_rows(fmt: str, rows: list[dict[str, Any]], headers: dict[str, str]) -> None:
    """Render ``rows`` with ``fmt`` to stdout (tables are aligned like docker's tabwriter)."""
    table, tmpl = compile_format(fmt)
    try:
        lines = [tmpl.render(row) for row in rows]
        if table:
            header = tmpl.render(headers, header=True)
            sys.stdout.write(tabulate([header, *"\n".join(lines).split("\n")]
                                      if lines else [header]) + "\n")
        else:
            sys.stdout.write("".join(line + "\n" for line in lines))
    except TemplateError as e:
        raise CLIError(template_message(e), 1) from None


def write_json_lines(rows: list[dict[str, Any]]) -> None:
    sys.stdout.write("".join(to_json(r) + "\n" for r in rows))
