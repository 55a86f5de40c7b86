"""Text the databases cannot store, refused at the door with a message naming why (pure)."""

from __future__ import annotations

from typing import Any

NUL = "\x00"
#: What a field is told when its text holds a character the databases cannot store: NUL
#: (PostgreSQL refuses it, even as a query parameter) or an unpaired surrogate, which JSON can
#: write as an escape (``\ud800``) but which has no UTF-8 form (both drivers fail on it).
NUL_REFUSED = "Must not contain the NUL character."
SURROGATE_REFUSED = "Must not contain an unpaired surrogate (\\ud800-\\udfff): it is not a character."


def refusal(value: Any) -> str | None:
    """Why ``value`` (JSON-like: every string in it, keys included) cannot be stored, or None."""
    if isinstance(value, str):
        if NUL in value:
            return NUL_REFUSED
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return SURROGATE_REFUSED
        return None
    if isinstance(value, dict):
        return next((why for k, v in value.items() if (why := refusal(k) or refusal(v))), None)
    if isinstance(value, list):
        return next((why for v in value if (why := refusal(v))), None)
    return None
