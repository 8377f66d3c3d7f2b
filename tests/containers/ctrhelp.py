"""Small helpers shared by the container tests."""

import uuid


def unique(prefix: str = "ct") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
