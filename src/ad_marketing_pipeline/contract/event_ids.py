"""Event ids, computed in Python from an event's JSON payload.

`event_id` is the event type and its id: `ad_click:<click_id>`, `conversion:<conversion_id>`,
`<event_type>:<event_id>` for other types that carry an `event_id`, and otherwise
`<event_type>:<SHA-256 of the whole payload>` (its JSON text without surrounding whitespace), so
an exact re-send gets the same id and a different payload does not. A click and a conversion may
share an id without being one event. `derive_event_id` (here) and `event_id_column` (Spark, in
`columns`) compute the same value from the constants below. Plain Python: no pyspark here.
"""

from __future__ import annotations

import hashlib
import json
import re

# The field holding an event's own id, for the types that have one.
OWN_ID_FIELD = {"ad_click": "click_id", "conversion": "conversion_id"}
ID_SEPARATOR = ":"
# Whitespace around a payload is not part of it (a Kafka value may end with a newline where the
# same event's line in a landing file does not). Java's and Python's `\s` differ, so spelled out.
_PAYLOAD_SPACE = "[ \t\n\u000b\f\r]"
PAYLOAD_PADDING = f"^(\ufeff|{_PAYLOAD_SPACE})+|{_PAYLOAD_SPACE}+$"


def payload_identity_text(payload: str) -> str:
    """The payload text an id hash covers: without a byte-order mark and surrounding spaces."""
    return re.sub(PAYLOAD_PADDING, "", payload)


def derive_event_id(payload: str) -> str:
    """The id of the event a JSON payload holds, as `event_id_column` computes it in Spark
    (for ids given as JSON strings)."""
    identity_text = payload_identity_text(payload)
    event = json.loads(identity_text)
    event_type = str(event.get("event_type"))
    own_field = OWN_ID_FIELD.get(event_type)
    for candidate in (event.get(own_field) if own_field else None, event.get("event_id")):
        if candidate not in (None, ""):
            return f"{event_type}{ID_SEPARATOR}{candidate}"
    digest = hashlib.sha256(identity_text.encode("utf-8")).hexdigest()
    return f"{event_type}{ID_SEPARATOR}{digest}"
