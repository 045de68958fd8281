"""The committed OpenAPI document of ``custobot/1`` (``supplier/openapi.json``).

``python -m supplier.openapi`` rewrites it from the code; a test fails when the
committed file and the code disagree, so implementers in other languages can
trust the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from supplier.app import build_api

OPENAPI_FILE = Path(__file__).with_name("openapi.json")


def openapi_document() -> dict[str, Any]:
    return build_api().openapi()


def render() -> str:
    """The document as committed: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the document (or with ``--check``, exit 1 if the committed one is stale)."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        return 0 if OPENAPI_FILE.read_text(encoding="utf-8") == text else 1
    OPENAPI_FILE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
