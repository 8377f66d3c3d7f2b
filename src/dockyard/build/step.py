"""What one Dockerfile instruction asks for, decided before the cache is consulted.

A handler turns an instruction into a ``Step``: the text and inputs that make up its cache
key, its history line, a config change (metadata instructions: no layer) and/or an action
that produces a layer in a workspace (RUN, COPY, ADD, WORKDIR of a missing directory).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..image.layer import LayerInfo
from .state import State


class StepFailed(Exception):
    """A step failed in a way the build reports with Docker's message and exit code."""

    def __init__(self, message: str, code: int = 1, *, exact: bool = False):
        super().__init__(message)
        self.message = message
        self.code = code
        self.exact = exact  # Docker's own wording (a RUN's exit): no line added


@dataclass
class Step:
    key_text: str
    created_by: str
    args: dict[str, str] = field(default_factory=dict)
    sources: str = ""
    apply: Callable[[State], None] | None = None
    act: Callable[[State], LayerInfo | None] | None = None
    cacheable: bool = True
