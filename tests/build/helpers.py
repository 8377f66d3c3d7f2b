"""Reading the classic builder's output in tests."""

from __future__ import annotations

import json
import re

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


def steps(output: str) -> list[tuple[str, bool]]:
    """(instruction text, was it a cache hit) for each step after the FROM lines."""
    result: list[tuple[str, bool]] = []
    for line in output.splitlines():
        m = _STEP.match(line)
        if m:
            result.append((m.group(3), False))
        elif line.strip() == "---> Using cache" and result:
            result[-1] = (result[-1][0], True)
    return [s for s in result if not s[0].upper().startswith("FROM")]


def image_id(output: str) -> str:
    m = re.search(r"Successfully built ([0-9a-f]{12})", output)
    assert m, output
    return m.group(1)


def inspect(cli, name: str) -> dict:
    return json.loads(cli.ok("image", "inspect", name))[0]
