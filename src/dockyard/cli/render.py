"""Docker's output conventions: aligned tables, human durations and sizes, truncation.

These follow the docker CLI and go-units exactly where users (and scripts) can see the
difference: tabwriter padding of 3 with a minimum cell width of 10, "About a minute",
"4.86MB" (decimal units, three significant digits), 12-character ids, "…" ellipsis.
"""

from __future__ import annotations

import time

from ..humanize import bytes_size, go_quote, human_duration, human_size  # noqa: F401

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def tabulate(lines: list[str], minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated cells like Go's ``tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)``.

    A column's width is computed over each run of consecutive lines that have that column
    (a cell is text followed by a tab; the text after the last tab is never padded).
    """
    rows = [line.split("\t") for line in lines]
    widths = [[0] * (len(r) - 1) for r in rows]
    col = 0
    while True:
        i, any_col = 0, False
        while i < len(rows):
            if len(rows[i]) - 1 > col:
                any_col = True
                j = i
                width = 0
                while j < len(rows) and len(rows[j]) - 1 > col:
                    width = max(width, len(rows[j][col]) + padding)
                    j += 1
                width = max(width, minwidth)
                for k in range(i, j):
                    widths[k][col] = width
                i = j
            else:
                i += 1
        if not any_col:
            break
        col += 1
    out = []
    for row, w in zip(rows, widths, strict=True):
        cells = [cell.ljust(w[c]) for c, cell in enumerate(row[:-1])]
        cells.append(row[-1])
        out.append("".join(cells))
    return "\n".join(out)


def since(epoch: float, now: float | None = None) -> str:
    """"5 seconds ago" for a unix timestamp."""
    now = time.time() if now is None else now
    return human_duration(max(0.0, now - epoch)) + " ago"


def ellipsis(text: str, width: int) -> str:
    """Shorten to ``width`` characters, the last being "…" (docker's formatter.Ellipsis)."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return text[0]
    return text[:width - 1] + "…"


def short_id(full: str, length: int = 12) -> str:
    """"sha256:abcd…" or a container id → its first 12 hex characters."""
    if ":" in full:
        full = full.split(":", 1)[1]
    return full[:length]


def parse_rfc3339(text: str) -> float | None:
    """RFC 3339 (nanosecond precision allowed) → unix seconds; None if it does not parse."""
    if not text or text.startswith("0001-01-01"):
        return None
    try:
        date, _, rest = text.partition("T")
        y, mo, d = (int(x) for x in date.split("-"))
        offset = 0
        if rest.endswith("Z"):
            rest = rest[:-1]
        else:
            for sign in "+-":
                k = rest.rfind(sign)
                if k > 0:
                    oh, _, om = rest[k + 1:].partition(":")
                    offset = (int(oh) * 3600 + int(om or 0) * 60) * (1 if sign == "+" else -1)
                    rest = rest[:k]
                    break
        hms, _, frac = rest.partition(".")
        h, mi, s = (int(x) for x in hms.split(":"))
        seconds = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
        return seconds + (float("0." + frac) if frac else 0.0)
    except (ValueError, IndexError):
        return None


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 (H. Hinnant's algorithm; avoids importing datetime)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def go_time(epoch: float) -> str:
    """Go's time.Time.String() in UTC: "2024-01-02 03:04:05 +0000 UTC"."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(epoch))


def format_ports(ports: list[dict[str, Any]] | None) -> str:
    """The ps PORTS column: "0.0.0.0:8080->80/tcp, 443/tcp"."""
    out = []
    for p in ports or []:
        proto = p.get("Type") or "tcp"
        private = p.get("PrivatePort")
        public = p.get("PublicPort")
        if public:
            ip = p.get("IP") or "0.0.0.0"
            if ":" in ip:
                ip = f"[{ip}]"
            out.append(f"{ip}:{public}->{private}/{proto}")
        else:
            out.append(f"{private}/{proto}")
    seen: list[str] = []
    for item in out:
        if item not in seen:
            seen.append(item)
    return ", ".join(seen)
