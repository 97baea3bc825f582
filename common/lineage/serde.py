"""Events as plain JSON: serialise openlineage-python events (received events are checked in :mod:`.validate`)."""
from __future__ import annotations

import json
from typing import Any

from openlineage.client.serde import Serde


def event_to_dict(event: Any) -> dict[str, Any]:
    """A JSON-ready dict of an openlineage-python event (nulls dropped, enums as strings)."""
    return Serde.to_dict(event)


def event_to_json(event: Any) -> str:
    """One line of compact JSON with sorted keys (a line of an ``.jsonl`` event file)."""
    return json.dumps(event_to_dict(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
