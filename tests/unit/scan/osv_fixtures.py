"""The OSV records the scanner tests use: real samples (osv/) and labelled synthetic ones (osv-synthetic/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scanning"
SAMPLES = sorted((FIXTURES / "osv").glob("*/*.json"))
SYNTHETIC = sorted((FIXTURES / "osv-synthetic").glob("*.json"))
#: the one sample that breaks the schema on purpose ("versions": null)
INVALID_SAMPLE = FIXTURES / "osv" / "alpine" / "CVE-2012-2812.json"


def load(path: Path) -> dict[str, Any]:
    return orjson.loads(path.read_bytes())


def valid_records() -> list[dict[str, Any]]:
    return [load(p) for p in [*SAMPLES, *SYNTHETIC] if p != INVALID_SAMPLE]
