"""JSON Schema files for device makers, one per message kind, from the pydantic models.

`export_schemas(Path("docs/schemas"))` regenerates the published files; a unit test checks
they match the code. The schemas describe the JSON on the wire (what `encode` writes and
`decode` accepts), with the envelope and that kind's payload inlined under `$defs`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.contract.messages import ENVELOPES, MAX_BYTES
from services.contract.topics import ROOT, Kind

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_for(kind: Kind) -> dict[str, Any]:
    """The JSON Schema of one message kind (envelope and payload)."""
    schema = ENVELOPES[kind].model_json_schema(mode="validation")
    described = {
        "$schema": SCHEMA_DIALECT,
        "$id": f"{kind}.schema.json",
        "title": f"sunlight {kind} message",
        "description": (
            f"Published on {ROOT}/{{site}}/{{device}}/{kind}, UTF-8 JSON of at most "
            f"{MAX_BYTES[kind]} bytes. Unknown fields are refused."
        ),
    }
    closed: dict[str, Any] = _closed({**described,
                                      **{k: v for k, v in schema.items() if k != "title"}})
    return closed


def _closed(node: Any) -> Any:
    """Refuse keys that miss `patternProperties` (metric names), as the models do."""
    if isinstance(node, list):
        return [_closed(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _closed(v) for k, v in node.items()}
    if "patternProperties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def render(kind: Kind) -> str:
    """The file's text: the models' field order, two-space indent, a trailing newline."""
    return json.dumps(schema_for(kind), indent=2, ensure_ascii=False) + "\n"


def export_schemas(directory: Path) -> list[Path]:
    """Write `{kind}.schema.json` for every kind into `directory`; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in Kind:
        path = directory / f"{kind}.schema.json"
        path.write_text(render(kind), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m services.contract.schemas [directory]
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")
    for p in export_schemas(target):
        print(p)
