"""Where a benchmark's result goes: one JSON file under benchmarks/results (or --out), echoed to stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(out: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Write `out` as indented JSON to `path` (parents created) and print it; returns `out`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(out, indent=1)
    path.write_text(text)
    print(text)
    return out
