"""The run path stays lean: start-up is part of every CLI call, so heavy stdlib modules
(re, json, typing, enum, socket, http, email, argparse, subprocess) must not be imported by
``dockyard run`` (measured, not timed: see benchmarks/cli_startup.py for the numbers)."""

import subprocess
import sys

HEAVY = {"re", "json", "typing", "enum", "socket", "http", "http.client", "email", "argparse",
         "subprocess", "urllib", "urllib.parse", "tarfile", "datetime", "threading", "signal",
         "asyncio", "logging"}

PROBE = """
import sys
before = set(sys.modules)
{imports}
print(" ".join(sorted(set(sys.modules) - before)))
"""


def _new_modules(imports: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_run_path_imports_no_heavy_modules():
    loaded = _new_modules("from dockyard.cli.main import main\n"
                          "import dockyard.cli.run, dockyard.cli.attach, dockyard.cli.connect")
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
    assert {m for m in loaded if m.startswith("dockyard")} <= {
        "dockyard", "dockyard.cli", "dockyard.cli.main", "dockyard.cli.base",
        "dockyard.cli.flags", "dockyard.cli.run", "dockyard.cli.attach",
        "dockyard.cli.connect", "dockyard.client"}


def test_listing_path_imports_no_heavy_modules():
    loaded = _new_modules("import dockyard.cli.containers, dockyard.cli.images, "
                          "dockyard.cli.formatting, dockyard.cli.template, dockyard.cli.render")
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
