"""What a person runs by hand through the workers' own code: ``python -m workers send-digest``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from workers import notify
from workers.delivery import deliver
from workers.digests import digest_event, record_due
from workers.runtime import make_context
from workstation.config import Config
from workstation.services.auth import find_user
from workstation.services.digest import digest_period, period_of
from workstation.services.models import DigestRecord, DigestSetting


class DigestCommandError(Exception):
    """Why the digest was not sent; ``usage`` when the command was given a bad argument."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def send_now(config: Config, email: str, period: str | None) -> str:
    """Send ``email``'s digest for ``period`` (default: the latest due) now; what happened, in a line."""
    ctx = make_context(config)
    with ctx.sessions.begin() as session:
        user = find_user(session, email)
        if user is None or user.role != "coordinator":
            raise DigestCommandError(f"no coordinator with email {email}")
        setting = DigestSetting.of(session, user.id)
        if period is None:
            chosen = digest_period(setting.frequency, setting.hour, setting.timezone, datetime.now(UTC))
        else:
            try:
                chosen = period_of(period if ":" in period else f"daily:{period}", setting.hour, setting.timezone)
            except ValueError:
                raise DigestCommandError("--period is daily:YYYY-MM-DD, weekly:YYYY-Www or a date", True) from None
        event = record_due(session, user, chosen)
        if event is None:
            mine = (DigestRecord.coordinator_id == user.id, DigestRecord.period_key == chosen.key)
            existing = session.scalars(select(DigestRecord).where(*mine)).one()
            if existing.status == "sent":
                return f"digest {chosen.key} was sent already, at {existing.sent_at:%Y-%m-%d %H:%M} UTC"
            event = digest_event(session, existing)  # once more: the claim keeps it to one email
        message_id, payload = event.id, event.payload
    # Delivered here and now, through the notify worker's own code; the worker, when the event
    # reaches it too, finds it handled.
    headers = {"message_id": message_id, "type": "digest.due"}
    outcome = deliver(ctx, notify.CONSUMER, notify.handle, payload, headers, "digest.due")
    with ctx.sessions() as session:
        record = session.get(DigestRecord, payload["digest_id"])
    if record.status == "sent":
        return f"sent digest {chosen.key} to {email}"
    if record.status == "sending":
        return f"digest {chosen.key} is being sent by a notify worker"
    raise DigestCommandError(f"sending digest {chosen.key} failed ({outcome}): {record.last_error}")
