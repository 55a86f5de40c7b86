"""Webhooks: an integrator (an enterprise's own IP system, the platform's portal) registers a URL
and the events it wants; each such event on a case the hook's owner may see is POSTed to it.

- **Registration** (``/api/v1/webhooks``): an http(s) URL and events among ``WEBHOOK_EVENTS``; the
  hook gets a secret of its own, which signs every delivery. A URL whose host is a private,
  loopback or link-local address is refused (checked again at each delivery, as a name may come
  to point elsewhere) unless ``WORKSTATION_WEBHOOK_PRIVATE_OK``: a hook must not make the server
  call into its own network.
- **Fan-out** (the ``webhooks`` consumer, ``fan_out``): one ``WebhookDelivery`` per event and hook
  that wants it, whose owner may see the case (``cases.visible_cases``; an internal note's
  message only for those who read notes), written with the consumer's handled mark. The body is
  fixed then and says little: the event, the case's reference, status, right type and service,
  and links. The integrator reads the rest with its own token, so that every read goes through
  the API's access rules and its logs.
- **Binding**: the ``webhooks`` consumer's queue is bound to the routing keys some enabled hook
  wants and to no other, by the reconciler at each run (``outbox.reconcile``,
  ``Publisher.bind_only``); the topology every process declares binds it to nothing. With no hook
  registered no event reaches it. An event published in the moment between a hook's registration
  and its key's binding is owed to the consumer all the same (``outbox.owed_since``: every event of
  the key from the hook's ``created_at`` on) and published again to it after ``reconcile_after``.
- **Sending** (``deliver_due``, the scheduler's leader every second): a delivery is claimed by
  moving its next attempt past a lease, then POSTed with ``X-RPA-Event``, ``X-RPA-Delivery`` and
  ``X-RPA-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the hook's secret>``.
  A 2xx answer is delivered; anything else is tried again after 10 s, doubling up to an hour
  (a crash while sending: after the lease; at least once, the delivery id lets the receiver
  drop a repeat). After ``webhook_max_failures`` failures in a row the hook is disabled; its
  owner sees it, with the last error, and enables it again (``PATCH``), which resumes what waits.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import and_, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from workstation.config import Config
from workstation.services.cases import visible_cases
from workstation.services.conversation import reads_notes
from workstation.services.messaging import SUBSCRIPTIONS
from workstation.services.models import Case, User, Webhook, WebhookDelivery, utcnow
from workstation.services.schemas import api_errors

#: The events a hook may ask for: those the ``webhooks`` consumer takes from the broker.
WEBHOOK_EVENTS = SUBSCRIPTIONS["webhooks"]
MAX_URL = 2000
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
#: http(s), a host name or IPv4 address, a port, and a path in printable ASCII (percent-encoded
#: otherwise), as the document states it.
URL_PATTERN = rf"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:{_PORT})?(/[!-~]*)?$"
MAX_HOOKS_PER_USER = 20
#: How long a claimed delivery is another sender's before it may be tried again.
LEASE = timedelta(seconds=60)
FIRST_RETRY_S, LAST_RETRY_S = 10, 3600
SEND_BATCH = 50


class WebhookInputSchema(Schema):
    class Meta:
        unknown = RAISE

    url = fields.String(required=True, validate=[validate.Length(min=8, max=MAX_URL), validate.Regexp(URL_PATTERN)],
                        metadata={"example": "https://ip.example.cn/rpa-events"})  # fmt: skip
    events = fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)), required=True,
                         validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)))  # fmt: skip


class WebhookChangesSchema(Schema):
    class Meta:
        unknown = RAISE

    active = fields.Boolean(metadata={"description": "true enables a disabled hook again"})
    events = fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
                         validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)))  # fmt: skip


class WebhookSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    secret = fields.String(metadata={"description": "signs the deliveries (X-RPA-Signature)"})
    created_at = fields.DateTime()
    active = fields.Function(lambda hook: hook.disabled_at is None, metadata={"type": "boolean"})
    failures = fields.Integer(metadata={"description": "failed deliveries in a row"})
    disabled_at = fields.DateTime(allow_none=True)
    last_error = fields.String()


webhook_schema = WebhookSchema()


PRIVATE_ADDRESS = "The URL points at a private, loopback or reserved address."


class WebhookError(ValueError):
    """A hook that cannot be registered or changed: ``errors`` as the API shows them; ``status``:
    400 for input at fault, 403 for an address this server does not call, 409 for too many hooks."""

    def __init__(self, errors: dict[str, Any], status: int = 400) -> None:
        super().__init__(errors)
        self.errors, self.status = errors, status


def address_refusal(url: str, private_ok: bool, unresolved_ok: bool = False) -> str | None:
    """Why ``url`` may not be called (not http(s), no host, a host that resolves to a private,
    loopback, link-local or reserved address, or, unless ``unresolved_ok``, to nothing); None
    when it may."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "An http:// or https:// URL with a host."
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (ValueError, OSError):
        return None if unresolved_ok else "The URL's host cannot be resolved."
    if private_ok:
        return None
    for *_rest, sockaddr in found:
        ip = ipaddress.ip_address(sockaddr[0])
        if not ip.is_global or ip.is_multicast:
            return PRIVATE_ADDRESS
    return None


def _loaded(schema: Schema, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise WebhookError({"_request": ["The body must be a JSON object."]})
    try:
        return schema.load(body)
    except ValidationError as err:
        raise WebhookError(api_errors(err.normalized_messages())) from None


def register_hook(session: Session, config: Config, owner: User, body: Any) -> Webhook:
    given = _loaded(WebhookInputSchema(), body)
    # (a name that does not resolve yet is taken: each delivery looks it up again)
    if why := address_refusal(given["url"], config.webhook_private_ok, unresolved_ok=True):
        raise WebhookError({"url": [why]}, 403 if why == PRIVATE_ADDRESS else 400)
    if len(hooks_of(session, owner)) >= MAX_HOOKS_PER_USER:
        raise WebhookError({"_request": [f"At most {MAX_HOOKS_PER_USER} webhooks per account."]}, 409)
    hook = Webhook(owner_id=owner.id, url=given["url"], events=sorted(set(given["events"])),
                   secret=secrets.token_hex(32))  # fmt: skip
    session.add(hook)
    session.flush()
    return hook


def change_hook(hook: Webhook, body: Any) -> None:
    """``{"active": true}`` enables a disabled hook (its failures forgotten); ``events`` replaces them."""
    given = _loaded(WebhookChangesSchema(), body)
    if "events" in given:
        hook.events = sorted(set(given["events"]))
    if given.get("active") is True:
        hook.disabled_at, hook.failures = None, 0
    elif given.get("active") is False and hook.disabled_at is None:
        hook.disabled_at = utcnow()


def hooks_of(session: Session, owner: User) -> list[Webhook]:
    return list(session.scalars(select(Webhook).where(Webhook.owner_id == owner.id).order_by(Webhook.id)))


def remove_hook(session: Session, hook: Webhook) -> None:
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id))
    session.delete(hook)


# --- fan-out ----------------------------------------------------------------------------------


def enabled_hooks(session: Session) -> list[Webhook]:
    """Every hook that is not disabled: read once for a batch of events (``fan_out``)."""
    return list(session.scalars(select(Webhook).where(Webhook.disabled_at.is_(None))))


def fan_out(
    session: Session, config: Config, hooks: list[Webhook], event_id: int, event_type: str, payload: dict[str, Any]
) -> int:
    """The deliveries of one event to ``hooks`` (``enabled_hooks``), in the caller's transaction;
    how many were made."""
    case_id = payload.get("case_id")
    hooks = [h for h in hooks if event_type in h.events]
    case = session.get(Case, case_id) if hooks and isinstance(case_id, int) else None
    if case is None or case.reference is None:
        return 0
    made = 0
    for hook in hooks:
        if not _may_tell(session, hook.owner, case, payload):
            continue
        body = _body(config, event_id, event_type, case, payload)
        session.add(WebhookDelivery(webhook_id=hook.id, event_id=event_id, event_type=event_type, body=body))
        made += 1
    return made


def _may_tell(session: Session, owner: User, case: Case, payload: dict[str, Any]) -> bool:
    if not owner.is_active:
        return False
    if payload.get("internal") is True and not reads_notes(owner):
        return False
    return session.scalar(visible_cases(owner).where(Case.id == case.id).with_only_columns(Case.id)) is not None


def _body(config: Config, event_id: int, event_type: str, case: Case, payload: dict[str, Any]) -> str:
    said: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "occurred_at": utcnow().isoformat(),
        "case": {"reference": case.reference, "status": case.status, "right_type": case.right_type,
                 "service": case.service},
        "links": {"case": f"{config.base_url}/api/v1/cases/{case.reference}",
                  "page": f"{config.base_url}/cases/{case.reference}"},
    }  # fmt: skip
    if event_type == "case.message" and isinstance(payload.get("message_id"), int):
        said["message_id"] = payload["message_id"]
        said["links"]["messages"] = f"{config.base_url}/api/v1/cases/{case.reference}/messages"
    return json.dumps(said, ensure_ascii=False, separators=(",", ":"))


# --- sending ----------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-RPA-Signature`` value: what a receiver recomputes to know the delivery is ours."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(FIRST_RETRY_S * 2 ** max(attempts - 1, 0), LAST_RETRY_S))


def deliver_due(sessions: sessionmaker[Session], config: Config, now: datetime | None = None) -> int:
    """Send the deliveries that are due (of enabled hooks); how many were delivered."""
    now = now or utcnow()
    with sessions() as session:
        due = session.scalars(
            select(WebhookDelivery.id)
            .join(Webhook, and_(Webhook.id == WebhookDelivery.webhook_id, Webhook.disabled_at.is_(None)))
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id)
            .limit(SEND_BATCH)
        ).all()
    return sum(_attempt(sessions, config, delivery_id, now) for delivery_id in due)


def _attempt(sessions: sessionmaker[Session], config: Config, delivery_id: int, now: datetime) -> bool:
    with sessions.begin() as session:  # the claim: nobody else tries it until the lease ends
        claimed = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
                   WebhookDelivery.next_attempt_at <= now)
            .values(next_attempt_at=now + LEASE)
        ).rowcount  # fmt: skip
        delivery = session.get(WebhookDelivery, delivery_id) if claimed else None
        target = (
            (delivery.webhook.url, delivery.webhook.secret, delivery.event_type, delivery.body) if delivery else None
        )
    if target is None:
        return False
    status, error = _post(config, delivery_id, *target)
    with sessions.begin() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        hook = delivery.webhook
        delivery.attempts += 1
        delivery.last_status = status
        if error is None:
            delivery.status, delivery.delivered_at = "sent", utcnow()
            hook.failures, hook.last_error = 0, ""
            return True
        delivery.next_attempt_at = now + retry_delay(delivery.attempts)
        hook.failures += 1
        hook.last_error = error[:500]
        if hook.failures >= config.webhook_max_failures and hook.disabled_at is None:
            hook.disabled_at = utcnow()
        return False


def _post(
    config: Config, delivery_id: int, url: str, secret: str, event_type: str, body: str
) -> tuple[int | None, str | None]:  # noqa: E501
    """POST ``body`` to ``url``: (the status, None) for a 2xx answer, else (status or None, why).
    Redirects are not followed (one could lead to an address the hook may not reach)."""
    if why := address_refusal(url, config.webhook_private_ok):
        return None, why
    parts = urlsplit(url)
    data = body.encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "rpa-workstation-webhooks/1",
        "X-RPA-Event": event_type,
        "X-RPA-Delivery": str(delivery_id),
        "X-RPA-Signature": signature(secret, int(time.time()), data),
    }
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=config.webhook_timeout)
    try:
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), data, headers)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as err:
        return None, f"{type(err).__name__}: {err}"
    finally:
        connection.close()
    return (status, None) if 200 <= status < 300 else (status, f"HTTP {status}")
