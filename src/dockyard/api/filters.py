"""The ``filters`` query parameter: ``{"key": ["v1", "v2"]}`` or the legacy ``{"key": {"v": true}}``."""

import json

from ..errors import InvalidArgument


def parse_filters(raw: str | None, allowed: set[str]) -> dict[str, list[str]]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise InvalidArgument(f"invalid filters: {e}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("invalid filters: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")
        if isinstance(value, dict):
            values = [k for k, v in value.items() if v]
        elif isinstance(value, list):
            values = [str(v) for v in value]
        else:
            raise InvalidArgument(f"invalid filter '{key}'")
        out[key] = values
    return out


def match_labels(labels: dict, wanted: list[str]) -> bool:
    """Every ``key`` or ``key=value`` in ``wanted`` must hold."""
    for item in wanted:
        if "=" in item:
            k, v = item.split("=", 1)
            if labels.get(k) != v:
                return False
        elif item not in labels:
            return False
    return True


def query_bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.lower() not in ("0", "false", "no")


def query_int(value: str | None, default: int | None = None, name: str = "value") -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"invalid {name}: {value!r}") from None
