"""Rules for mail about cases (pure): the reply address that names a case and a person and cannot
be forged, the thread headers, and which mail is automatic (auto-replies, bounces) and must never
become a message or cause one.

The reply address is ``reply+<reference>.<user id>.<mac>@<inbound domain>``: the reference in
lower case (mail systems may fold a local part's case), the id of the person the mail was made
for, and 16 base32 characters (80 bits) of an HMAC-SHA256 over both with the instance's secret
key. Changing the reference or the person breaks the MAC; nobody without the key can make one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr

REPLY_PREFIX = "reply"
MAC_CHARS = 16
#: ``RPA-2026-000123``, as a reply address carries it (any case).
_REFERENCE = re.compile(r"rpa-\d{4}-\d{6,19}", re.IGNORECASE)
_LOCAL_PART = re.compile(
    rf"{REPLY_PREFIX}\+(?P<reference>rpa-\d{{4}}-\d{{6,19}})\.(?P<user>\d{{1,19}})\.(?P<mac>[a-z2-7]+)"
)
#: The domain the thread root's Message-ID is made in (never a mailbox).
THREAD_DOMAIN = "rpa-workstation"


def _mac(secret: str, reference: str, user_id: int) -> str:
    key = ("rpa-reply-to:" + secret).encode()
    digest = hmac.new(key, f"{reference.lower()}:{user_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:MAC_CHARS]


def reply_address(secret: str, domain: str, reference: str, user_id: int) -> str:
    """The address a reply to a mail about ``reference`` sent to ``user_id`` goes to."""
    return f"{REPLY_PREFIX}+{reference.lower()}.{user_id}.{_mac(secret, reference, user_id)}@{domain.lower()}"


@dataclass(frozen=True)
class ReplyTarget:
    """What a genuine reply address names: a case (its reference) and a person (their id)."""

    reference: str
    user_id: int


#: ``read_reply_address``'s answers for an address that is not a genuine reply address.
NOT_OURS = "not_ours"  # another domain, or not a reply address at all
FORGED = "forged"  # shaped like one, but the MAC does not match (altered or made up)


def read_reply_address(secret: str, domain: str, address: str) -> ReplyTarget | str:
    """The case and person ``address`` names, or ``NOT_OURS`` / ``FORGED``."""
    local, at, host = (address or "").strip().rpartition("@")
    if not at or host.lower() != domain.lower():
        return NOT_OURS
    local = local.lower()
    if not local.startswith(REPLY_PREFIX + "+"):
        return NOT_OURS
    match = _LOCAL_PART.fullmatch(local)
    if match is None:
        return FORGED
    reference, user = match["reference"], int(match["user"])
    if not hmac.compare_digest(match["mac"], _mac(secret, reference, user)):
        return FORGED
    return ReplyTarget(reference.upper(), user)


def thread_root(reference: str) -> str:
    """The Message-ID every mail about a case refers to (``In-Reply-To``, ``References``): mail
    clients then show one thread per case."""
    return f"<case.{reference}@{THREAD_DOMAIN}>"


# --- automatic mail ---------------------------------------------------------------------------------

#: Subjects of out-of-office and other automatic answers (Outlook, Exchange, QQ, 163, Gmail, ...).
_AUTOMATIC_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|回复|答复)\s*[:：]\s*)*"
    r"(?:auto(?:matic)?[ -]?(?:reply|response|answer)|autoreply|out of (?:the )?office|on vacation"
    r"|自动回复|自動回覆|自动答复|自動回復|不在办公室|abwesenheit|réponse automatique)",
    re.IGNORECASE,
)
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliver(?:able|ed)|delivery status notification|delivery (?:has )?failed|failure notice"
    r"|returned mail|mail delivery (?:failed|failure|system)|系统退信|退信|投递失败|未送达|无法投递)",
    re.IGNORECASE,
)
AUTO_REPLY = "auto_reply"
BOUNCE = "bounce"
OWN_ADDRESS = "own_address"


def header_text(value: object) -> str:
    """A header as text: RFC 2047 words decoded (GBK and GB2312 read as GB 18030, their superset),
    raw 8-bit bytes read as UTF-8 or else GB 18030, never an exception."""
    if value is None:
        return ""
    if isinstance(value, Header):  # raw 8-bit bytes in the header: the parser kept them as unknown-8bit
        return "".join(
            chunk if isinstance(chunk, str) else decode_bytes(chunk, charset) for chunk, charset in decode_header(value)
        )
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):  # 8-bit bytes the parser kept as escapes
        raw = text.encode("ascii", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("gb18030", "replace")
    try:
        parts = decode_header(text)
    except Exception:  # noqa: BLE001 - a malformed encoded word: keep the header as it came
        return text
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset))
    return "".join(out)


#: Charsets read as their superset: what Chinese mail clients label GB2312 is often GBK, and GBK
#: text is often GB 18030.
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "euc-cn": "gb18030"}


def decode_bytes(data: bytes, charset: str | None) -> str:
    """``data`` in its declared charset (an unknown one tried as UTF-8, then GB 18030)."""
    name = (charset or "").strip().lower().strip('"')
    name = _CHARSET_ALIASES.get(name, name)
    if name and name not in ("unknown-8bit", "x-unknown"):
        try:
            return data.decode(name)
        except LookupError:
            pass
        except UnicodeDecodeError:
            return data.decode(name, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", "replace")


def sender_of(message: Message) -> str:
    """The sender's address in lower case (From), or ''."""
    return parseaddr(header_text(message.get("From", "")))[1].strip().lower()


def recipients_of(message: Message) -> list[str]:
    """Every address the mail was sent to (the envelope's, when the MTA recorded it, then To and Cc)."""
    names = ("Delivered-To", "X-Original-To", "To", "Cc")
    values = [header_text(v) for name in names for v in message.get_all(name, [])]
    return [addr.strip().lower() for _name, addr in getaddresses(values) if "@" in addr]


def why_automatic(message: Message, own_addresses: frozenset[str] = frozenset()) -> str | None:
    """Why ``message`` must not become a message nor be answered (``BOUNCE``, ``AUTO_REPLY``,
    ``OWN_ADDRESS``), or None for mail a person wrote (RFC 3834, and what clients really send)."""
    sender = sender_of(message)
    if sender and sender in own_addresses:
        return OWN_ADDRESS
    content_type = message.get_content_type()
    if content_type == "multipart/report" or any(
        part.get_content_type() in ("message/delivery-status", "message/disposition-notification")
        for part in message.walk()
    ):
        return BOUNCE
    if sender.split("@")[0] in _BOUNCE_SENDERS or message.get("X-Failed-Recipients"):
        return BOUNCE
    return_path = (message.get("Return-Path") or "").strip()
    if return_path in ("<>", "< >"):
        return BOUNCE
    subject = header_text(message.get("Subject", ""))
    if _BOUNCE_SUBJECT.match(subject):
        return BOUNCE
    submitted = (message.get("Auto-Submitted") or "").split(";")[0].strip().lower()
    if submitted and submitted != "no":
        return AUTO_REPLY
    if any(message.get(name) for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated", "X-AutoReply-From")):
        return AUTO_REPLY
    if (message.get("Precedence") or "").strip().lower() in ("bulk", "junk", "auto_reply"):
        return AUTO_REPLY
    if _AUTOMATIC_SUBJECT.match(subject):
        return AUTO_REPLY
    return None


def normal_message_id(value: str | None, sha256: str) -> str:
    """A mail's Message-ID without its angle brackets, at most 255 characters; one made from the
    content's hash when it has none (so the same bytes received twice are one message)."""
    text = header_text(value).strip() if value else ""
    text = text.strip("<> \t\r\n")
    if not text or any(ch.isspace() for ch in text) or not text.isprintable():
        return f"{sha256}@hash.{THREAD_DOMAIN}"
    return text[:255]


def is_reference(text: str) -> bool:
    return _REFERENCE.fullmatch(text or "") is not None
