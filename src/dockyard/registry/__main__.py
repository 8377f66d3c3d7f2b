"""``python -m dockyard.registry serve ...`` — the registry without the dockyard CLI."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
