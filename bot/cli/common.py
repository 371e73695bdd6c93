"""What every command takes from the global arguments, and how it prints JSON."""
from __future__ import annotations

import json

from ..config import Settings


def settings(args) -> Settings:
    """Settings with the global --index-dir / --embedding applied."""
    return Settings.load(index_dir=getattr(args, "index_dir", None), embedding=getattr(args, "embedding", None))


def print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=1))
