"""Mail in: three ways in (a Maildir the scheduler polls, ``receive-mail`` for an MTA, an IMAP
mailbox the scheduler's leader polls), one path after receipt.

**Receipt** (``receive``) stores the raw message under ``instance/received/`` by its SHA-256 and
writes a ``ReceivedMail`` row and a ``mail.received`` outbox event in one transaction; the same
bytes received again add nothing. Nothing is parsed yet, so receipt is quick and never fails on a
strange mail; only a mail too large or not a mail at all is refused (``MailRefusedError``).

**Reading** (``apply_received``, the ``mailin`` consumer) decides what the mail is:

- automatic (auto-reply, bounce, our own mail: ``mailrules.why_automatic``): ignored, never a
  message, never answered;
- a mail whose Message-ID became a message or was decided on already: a duplicate, nothing more;
- a reply to a genuine reply address, from the very person it was made for, who may write in the
  case's thread: a message on the case by that person (``conversation.post_message``, so an
  answer moves ``awaiting_applicant`` back), without the quoted history, with its files checked
  as evidence is;
- anything else (no case, a forged or altered address, another sender, someone who may not
  write, nothing to say, unreadable): the quarantine, which coordinators work on
  ``/coordinator/quarantine`` (``attach`` to a case as the sender, on their word, or ``discard``;
  both audited). A mail never fails in a loop: whatever it holds, it ends in one of these.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workstation import lifecycle
from workstation.config import Config
from workstation.evidence import MAX_FILES, StoredFile, UploadError, human_size, store, validate_upload
from workstation.i18n import N_, in_language
from workstation.mailrules import (
    FORGED,
    ReplyTarget,
    normal_message_id,
    read_reply_address,
    recipients_of,
    sender_of,
    why_automatic,
)
from workstation.replies import ReadMail, parse, read_mail
from workstation.services.audit import audit
from workstation.services.cases import actor_relation
from workstation.services.conversation import MAX_BODY, MessageError, post_message
from workstation.services.models import Case, CaseMessage, ReceivedMail, User, utcnow
from workstation.services.outbox import enqueue
from workstation.services.schemas import MAX_DESCRIPTION, MAX_TITLE, case_input_schema
from workstation.services.submission import write_submission

log = logging.getLogger(__name__)

MAIL_RECEIVED = "mail.received"

# What became of a mail (``ReceivedMail.status``).
RECEIVED, MESSAGE, IGNORED, DUPLICATE, OPENED = "received", "message", "ignored", "duplicate", "opened"
QUARANTINED, ATTACHED, DISCARDED = "quarantined", "attached", "discarded"

# Why a mail is in the quarantine (``ReceivedMail.reason``; the page names them).
NO_CASE = "no_case"  # no reply address of ours, or one naming no case or no person
WRONG_SENDER = "wrong_sender"  # a genuine address, sent from someone else's
NOT_ALLOWED = "not_allowed"  # the person may not write in the case's thread (any more)
EMPTY = "empty"  # nothing said and no file
UNREADABLE = "unreadable"  # the mail could not be read at all
UNKNOWN_SENDER = "unknown_sender"  # to the intake address from no approved enterprise's address
QUARANTINE_REASONS = (NO_CASE, FORGED, WRONG_SENDER, NOT_ALLOWED, EMPTY, UNREADABLE, UNKNOWN_SENDER)
#: The event that mails an enterprise the reference of the case its mail opened.
OPENED_BY_MAIL = "case.opened_by_mail"
#: A case opened by mail is marked so (its submit event's detail) until a coordinator classifies it.
TO_CLASSIFY = "to_classify"
UNTITLED = N_("Case sent by email")

FILES_ONLY = N_("(Sent by email with files only.)")
FILES_REFUSED = N_("Files sent by email and not accepted:")
MORE_FILES = N_("%(n)d more files were not read: a message takes at most %(max)d.")
NOT_A_MAIL = "not a mail message (no header)"


class MailRefusedError(Exception):
    """A mail that can never be taken (too large, empty, not a mail): the MTA's 65."""


class UnknownMailError(LookupError):
    """A ``mail.received`` event naming no received mail."""


class AttachError(Exception):
    """A quarantined mail that cannot go into the case a coordinator chose; ``args[0]`` says why
    (a message for the catalogs)."""


# --- receipt ------------------------------------------------------------------------------------------


def _looks_like_mail(raw: bytes) -> bool:
    head = raw.lstrip()[:2000].split(b"\n", 1)[0]
    return b":" in head and not head.startswith(b":")


def keep_raw(config: Config, raw: bytes, unsynced: list[Path] | None = None) -> str:
    """Write ``raw`` under ``received/<aa>/<sha256>`` (atomically, once); returns the hash. The
    file is on disk when this returns, or, with ``unsynced``, once the caller has synced the paths
    added to it (``sync_all``). A copy cut short (a crash before its sync) is written again."""
    digest = hashlib.sha256(raw).hexdigest()
    folder = config.received_dir / digest[:2]
    target = folder / digest
    try:
        complete = target.stat().st_size == len(raw)
    except FileNotFoundError:
        complete = False
    if not complete:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".mail-")
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            if unsynced is None:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, target)
        if unsynced is not None:
            unsynced.append(target)
    return digest


def sync_all(paths: list[Path]) -> None:
    """The files of ``paths`` on disk. Their fsyncs run side by side: the filesystem commits
    them together, where one after another each waits for a journal commit of its own (100
    files: ~0.3 s one by one, ~0.02 s side by side on this machine's disk)."""
    if len(paths) <= 1:
        for path in paths:
            _fsync(path)
        return
    with ThreadPoolExecutor(max_workers=min(16, len(paths))) as pool:
        list(pool.map(_fsync, paths))  # (list: an error of one fsync is raised here)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def raw_of(config: Config, sha256: str) -> bytes:
    return (config.received_dir / sha256[:2] / sha256).read_bytes()


def receive(session: Session, config: Config, raw: bytes, via: str, unsynced: list[Path] | None = None) -> ReceivedMail:
    """Take ``raw`` in, in the caller's transaction: its row and its ``mail.received`` event (the
    row of the same bytes received before, and no new event, if there is one). MailRefusedError for
    a mail that can never be taken. ``unsynced``: see ``keep_raw`` (the caller syncs them before it
    lets go of its own copy of the mail)."""
    if len(raw) > config.max_mail_bytes:
        raise MailRefusedError(f"larger than {config.max_mail_bytes} bytes")
    if not raw.strip() or not _looks_like_mail(raw):
        raise MailRefusedError(NOT_A_MAIL)
    digest = keep_raw(config, raw, unsynced)
    known = session.scalar(select(ReceivedMail).where(ReceivedMail.sha256 == digest))
    if known is not None:
        return known
    row = ReceivedMail(sha256=digest, size=len(raw), via=via, status=RECEIVED, detail={})
    session.add(row)
    session.flush()
    enqueue(session, MAIL_RECEIVED, {"received_id": row.id})
    return row


def receive_committed(sessions: sessionmaker[Session], config: Config, raw: bytes, via: str) -> ReceivedMail:
    """``receive`` in a transaction of its own, committed when it returns (two processes taking
    the same bytes at once: the second finds the first's row)."""
    try:
        with sessions.begin() as session:
            return receive(session, config, raw, via)
    except IntegrityError:
        digest = hashlib.sha256(raw).hexdigest()
        with sessions() as session:
            known = session.scalar(select(ReceivedMail).where(ReceivedMail.sha256 == digest))
        if known is None:
            raise
        return known


# --- reading ------------------------------------------------------------------------------------------


@dataclass
class _Verdict:
    status: str
    reason: str = ""
    case: Case | None = None
    user: User | None = None


def apply_received(session: Session, config: Config, received_id: int) -> str:
    """Read the received mail ``received_id`` and do what it calls for, in the caller's
    transaction; returns its status. A mail decided on already is left as it is."""
    row = session.get(ReceivedMail, received_id, with_for_update=True)
    if row is None:
        raise UnknownMailError(f"no received mail {received_id}")
    if row.status != RECEIVED:
        return row.status
    raw = raw_of(config, row.sha256)
    try:
        message = parse(raw)
        mail = read_mail(message, MAX_FILES)
    except Exception as err:  # noqa: BLE001 - whatever it holds, a mail ends somewhere, never in a loop
        log.warning("received mail %s unreadable: %s", row.id, err)
        row.message_id = normal_message_id(None, row.sha256)
        return _decide(row, _Verdict(QUARANTINED, UNREADABLE), {"error": f"{type(err).__name__}: {err}"[:500]})
    row.message_id = normal_message_id(message.get("Message-ID"), row.sha256)
    row.sender = sender_of(message)[:254]
    row.subject = mail.subject[:300]
    row.text = mail.text[:MAX_BODY]
    row.detail = {
        "files": [{"filename": f.filename, "size": human_size(len(f.data))} for f in mail.files],
        "more_files": mail.more_files[:50],
        "more_files_count": len(mail.more_files),
    }
    with session.no_autoflush:  # (its queries need not write the row's new fields first)
        verdict = _verdict(session, config, row, mail)
    if verdict.status == MESSAGE:
        try:
            posted = post_mail(session, config, row, mail, verdict.case, verdict.user)
        except (lifecycle.TransitionError, MessageError):
            verdict = _Verdict(QUARANTINED, NOT_ALLOWED, verdict.case, verdict.user)
        else:
            row.case_message_id = posted.id
    elif verdict.status == OPENED:
        opened = open_case(session, config, row, mail, verdict.user)
        verdict = _Verdict(OPENED, "", opened, verdict.user) if opened else _Verdict(QUARANTINED, EMPTY)
    return _decide(row, verdict)


def _decide(row: ReceivedMail, verdict: _Verdict, extra: dict[str, Any] | None = None) -> str:
    row.status, row.reason = verdict.status, verdict.reason
    if verdict.case is not None:
        row.case_id = verdict.case.id
    if verdict.user is not None:
        row.user_id = verdict.user.id
    if extra:
        row.detail = {**(row.detail or {}), **extra}
    return row.status


def _own_addresses(config: Config) -> frozenset[str]:
    own = config.mail_from.rsplit("<", 1)[-1].rstrip(">").strip().lower()
    return frozenset({own})


def _verdict(session: Session, config: Config, row: ReceivedMail, mail: ReadMail) -> _Verdict:
    automatic = why_automatic(mail.message, _own_addresses(config))
    if automatic is None and row.sender.endswith("@" + config.reply_domain):
        automatic = "own_address"  # a reply address writing to us: a loop in the making
    if automatic is not None:
        return _Verdict(IGNORED, automatic)
    if _already_decided(session, row):
        return _Verdict(DUPLICATE)
    target: ReplyTarget | None = None
    forged = False
    for address in recipients_of(mail.message):
        found = read_reply_address(config.secret_key, config.reply_domain, address)
        if isinstance(found, ReplyTarget):
            target, row.recipient = found, address[:254]
            break
        if found == FORGED:
            forged, row.recipient = True, address[:254]
    if target is None and config.intake_address in recipients_of(mail.message):
        return _intake_verdict(session, row)
    if target is None:
        return _Verdict(QUARANTINED, FORGED if forged else NO_CASE)
    # (locked as every change of a case locks it: a transition meanwhile waits, or is waited for)
    case = session.scalar(select(Case).where(Case.reference == target.reference).with_for_update())
    user = session.get(User, target.user_id)
    if case is None or user is None:
        return _Verdict(QUARANTINED, NO_CASE, case, user)
    if user.email.lower() != row.sender:
        return _Verdict(QUARANTINED, WRONG_SENDER, case, user)
    if not user.is_active or actor_relation(case, user) not in lifecycle.WRITERS:
        return _Verdict(QUARANTINED, NOT_ALLOWED, case, user)
    if not mail.text.strip() and not mail.files:
        return _Verdict(QUARANTINED, EMPTY, case, user)
    return _Verdict(MESSAGE, "", case, user)


def _intake_verdict(session: Session, row: ReceivedMail) -> _Verdict:
    """A mail to the intake address opens a case only from an active, approved enterprise's own
    address; anyone else's goes to the quarantine and gets no answer (no backscatter)."""
    user = session.scalar(select(User).where(func.lower(User.email) == row.sender))
    if user is None or not user.is_active or user.role != "enterprise" or user.approval != "approved":
        return _Verdict(QUARANTINED, UNKNOWN_SENDER)
    return _Verdict(OPENED, "", None, user)


def open_case(session: Session, config: Config, row: ReceivedMail, mail: ReadMail, enterprise: User) -> Case | None:
    """A case from a mail to the intake address: right type ``other``, service ``consultation``,
    the subject as its title, the text as its description, the files as its evidence (those the
    checks refuse named in the description), marked to be classified; the enterprise is mailed
    its reference. None when there is nothing to open it with."""
    language = enterprise.language if enterprise.language in ("zh", "en") else "zh"
    stored, notes = _files(config, mail, language)
    text = "\n\n".join(part for part in (mail.text.strip(), *notes) if part)
    if not text and not stored:
        return None
    title = " ".join(mail.subject.split())[:MAX_TITLE] or in_language(UNTITLED, language)
    data = {"right_type": "other", "service": "consultation", "title": title,
            "description": (text or title)[:MAX_DESCRIPTION], "language": language}  # fmt: skip
    try:
        checked = case_input_schema.load(data)
    except Exception:  # noqa: BLE001 - what a mail holds cannot make a case: the quarantine
        return None
    detail = {"via": "mail", TO_CLASSIFY: True}
    case = write_submission(session.connection(), checked, stored, enterprise_id=enterprise.id, detail=detail)
    enqueue(session, OPENED_BY_MAIL, {"case_id": case.id, "reference": case.reference})
    return case


def _files(config: Config, mail: ReadMail, language: str) -> tuple[list[StoredFile], list[str]]:
    """``mail``'s files through the evidence checks: those stored, and the notes that name the
    refused ones and those beyond the most a message takes."""
    stored: list[StoredFile] = []
    refused: list[str] = []
    for file in mail.files:
        try:
            name, data, content_type = validate_upload(file.filename, io.BytesIO(file.data), config.max_upload_bytes)
            stored.append(store(config.evidence_dir, name, data, content_type))
        except UploadError as err:
            refused.append(in_language(err.message.template, language, **err.message.params))
    notes = []
    if refused:
        notes.append(in_language(FILES_REFUSED, language) + "\n" + "\n".join(f"- {why}" for why in refused))
    if mail.more_files:
        notes.append(in_language(MORE_FILES, language, n=len(mail.more_files), max=MAX_FILES))
    return stored, notes


def _already_decided(session: Session, row: ReceivedMail) -> bool:
    """Whether a mail with ``row``'s Message-ID became a message, or another copy was decided on."""
    if session.scalar(select(CaseMessage.id).where(CaseMessage.mail_message_id == row.message_id)):
        return True
    other = select(ReceivedMail.id).where(
        ReceivedMail.message_id == row.message_id, ReceivedMail.id != row.id, ReceivedMail.status != RECEIVED
    )
    return session.scalar(other.limit(1)) is not None


def post_mail(
    session: Session, config: Config, row: ReceivedMail, mail: ReadMail, case: Case, author: User
) -> CaseMessage:
    """``mail`` as a message on ``case`` by ``author``: its files through the evidence checks
    (those refused, and those beyond the most a message takes, named at the end of its text).
    Raises TransitionError or MessageError before anything is written when it cannot be."""
    relation = actor_relation(case, author)
    lifecycle.decide_message(case.status, relation, internal=False)  # raises before any write
    language = case.language or "zh"
    stored, notes = _files(config, mail, language)
    text = mail.text.strip()
    if not text:
        text = in_language(FILES_ONLY, language) if stored else ""
    tail = "\n\n".join(notes)
    if tail:
        room = MAX_BODY - len(tail) - 3
        text = (text[:room] + "\n\n" + tail) if text else tail
    elif len(text) > MAX_BODY:
        text = text[: MAX_BODY - 1] + "…"
    if not text.strip():
        raise MessageError({"body": ["empty"]})
    return post_message(session, case, author, text, files=stored, source="mail", mail_message_id=row.message_id)


# --- the quarantine -----------------------------------------------------------------------------------


def quarantine(session: Session, offset: int = 0, limit: int = 50) -> list[ReceivedMail]:
    """The mails waiting for a coordinator, newest first."""
    query = (
        select(ReceivedMail)
        .where(ReceivedMail.status == QUARANTINED)
        .order_by(ReceivedMail.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))


def quarantine_size(session: Session) -> int:
    return session.scalar(select(func.count()).where(ReceivedMail.status == QUARANTINED)) or 0


def attach(session: Session, config: Config, row: ReceivedMail, reference: str, coordinator: User) -> CaseMessage:
    """A coordinator's word that the quarantined mail ``row`` belongs on the case ``reference``:
    a message there by the sender (the account of the sender's address). AttachError otherwise."""
    if row.status != QUARANTINED:
        raise AttachError(N_("This mail is no longer in the quarantine."))
    case = session.scalar(select(Case).where(Case.reference == reference.strip().upper()).with_for_update())
    if case is None:
        raise AttachError(N_("There is no case with that reference."))
    author = session.scalar(select(User).where(func.lower(User.email) == row.sender.lower()))
    if author is None or not author.is_active:
        raise AttachError(N_("The sender has no active account: the mail cannot be theirs on a case."))
    if actor_relation(case, author) not in lifecycle.WRITERS:
        raise AttachError(N_("The sender may not write in that case's thread."))
    if row.message_id and session.scalar(select(CaseMessage.id).where(CaseMessage.mail_message_id == row.message_id)):
        raise AttachError(N_("This mail is on a case already."))
    mail = read_mail(parse(raw_of(config, row.sha256)), MAX_FILES)
    try:
        posted = post_mail(session, config, row, mail, case, author)
    except (lifecycle.TransitionError, MessageError):
        raise AttachError(N_("The mail cannot be a message on that case (nothing to say, or its status).")) from None
    row.status, row.case_id, row.case_message_id = ATTACHED, case.id, posted.id
    row.handled_by, row.handled_at = coordinator.id, utcnow()
    audit(session, coordinator, "mail_attached", author, case, received_mail=row.id, sender=row.sender,
          reason=row.reason)  # fmt: skip
    return posted


def discard(session: Session, row: ReceivedMail, coordinator: User) -> None:
    """A coordinator's decision that the quarantined mail ``row`` belongs nowhere (kept, audited)."""
    if row.status != QUARANTINED:
        raise AttachError(N_("This mail is no longer in the quarantine."))
    row.status, row.handled_by, row.handled_at = DISCARDED, coordinator.id, utcnow()
    audit(session, coordinator, "mail_discarded", None, row.case_id, received_mail=row.id, sender=row.sender,
          reason=row.reason)  # fmt: skip


# --- the ways in --------------------------------------------------------------------------------------


#: Maildir files taken in one transaction.
MAILDIR_BATCH = 50
#: what a caller of ``receive_batch`` knows its mails by (a Maildir path, an IMAP uid)
K = TypeVar("K")


def poll_maildir(sessions: sessionmaker[Session], config: Config) -> int:
    """Take in every message in the Maildir's ``new/``, up to ``MAILDIR_BATCH`` a transaction:
    the files are removed once their receipts are committed; one that can never be taken is
    moved to ``refused/``. Returns how many were taken."""
    root = config.mail_in_dir
    for sub in ("new", "cur", "tmp", "refused"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    names = sorted(e.name for e in os.scandir(root / "new") if e.is_file() and not e.name.startswith("."))
    taken = 0
    for start in range(0, len(names), MAILDIR_BATCH):
        batch: list[tuple[Path, bytes]] = []
        for path in (root / "new" / n for n in names[start : start + MAILDIR_BATCH]):
            with contextlib.suppress(FileNotFoundError):  # another poller took it
                batch.append((path, path.read_bytes()))
        received, refused = receive_batch(sessions, config, batch, "maildir")
        for path in refused:
            os.replace(path, root / "refused" / path.name)
        for path in received:
            path.unlink(missing_ok=True)
        taken += len(received)
    return taken


def receive_batch(
    sessions: sessionmaker[Session], config: Config, batch: list[tuple[K, bytes]], via: str
) -> tuple[list[K], list[K]]:
    """Receive each ``(key, raw)`` of ``batch`` in one transaction: (the keys received, the keys
    of mails that can never be taken). The raw copies are synced after the commit, before the
    caller lets go of its own copies (a Maildir file, a message on the IMAP server): until then
    those are the durable copy, and a crash in between finds them again (their rows exist:
    receipt then only writes the copy again if it was cut short)."""
    unsynced: list[Path] = []
    received: list[K] = []
    refused: list[K] = []
    try:
        with sessions.begin() as session:
            for key, raw in batch:
                try:
                    receive(session, config, raw, via, unsynced)
                except MailRefusedError as err:
                    log.warning("mail-in (%s): %s refused: %s", via, key, err)
                    refused.append(key)
                    continue
                session.flush()
                received.append(key)
    except IntegrityError:
        # another process took some of the same bytes at once: one mail at a time then
        received, refused = [], []
        for key, raw in batch:
            try:
                receive_committed(sessions, config, raw, via)
            except MailRefusedError:
                refused.append(key)
                continue
            received.append(key)
        return received, refused
    sync_all(unsynced)
    return received, refused


@dataclass(frozen=True)
class ImapSettings:
    tls: bool
    host: str
    port: int
    user: str
    password: str
    folder: str

    @classmethod
    def of(cls, url: str) -> ImapSettings:
        """``imap://user:password@host[:port]/FOLDER`` or ``imaps://`` (TLS)."""
        parsed = urlparse(url)
        if parsed.scheme not in ("imap", "imaps"):
            raise ValueError("WORKSTATION_IMAP_URL must start with imap:// or imaps://")
        tls = parsed.scheme == "imaps"
        return cls(
            tls=tls, host=parsed.hostname or "localhost", port=parsed.port or (993 if tls else 143),
            user=unquote(parsed.username or ""), password=unquote(parsed.password or ""),
            folder=unquote(parsed.path.lstrip("/")) or "INBOX",
        )  # fmt: skip


#: How long one IDLE waits before it is issued again (and a stop is noticed).
IMAP_IDLE_S = 5.0
_FETCHED_UID = re.compile(rb"UID (\d+)")


@contextlib.contextmanager
def imap_mailbox(config: Config, timeout: float = 30) -> Iterator[Any]:
    """A logged-in imap-tools mailbox on the configured folder, with the processed and refused
    folders made if missing."""
    from imap_tools import MailBox, MailBoxUnencrypted

    settings = ImapSettings.of(config.imap_url or "")
    box = MailBox if settings.tls else MailBoxUnencrypted
    with box(settings.host, settings.port, timeout=timeout).login(
        settings.user, settings.password, initial_folder=settings.folder
    ) as mailbox:
        # the capabilities as they are after login (MOVE, IDLE), else imap-tools copies and expunges
        _typ, data = mailbox.client.capability()
        mailbox.client.capabilities = tuple(data[0].decode().upper().split())
        processed = config.imap_processed_folder
        for folder in (processed, f"{processed}/Refused"):
            if not mailbox.folder.exists(folder):
                mailbox.folder.create(folder)
        yield mailbox


def take_imap_folder(mailbox: Any, sessions: sessionmaker[Session], config: Config) -> int:
    """Take in every message of the mailbox's folder, ``MAILDIR_BATCH`` a transaction (one FETCH,
    one commit, one MOVE each): a message is moved to the processed folder only after its receipt
    is committed (a database outage leaves it on the server); one that can never be taken goes to
    ``<processed>/Refused``. Returns how many were taken."""
    uids = mailbox.uids("ALL")
    taken = 0
    for start in range(0, len(uids), MAILDIR_BATCH):
        typ, fetched = mailbox.client.uid("FETCH", ",".join(uids[start : start + MAILDIR_BATCH]), "(UID BODY.PEEK[])")
        if typ != "OK":
            continue
        batch = [
            (found.group(1).decode(), item[1])
            for item in fetched
            if isinstance(item, tuple) and (found := _FETCHED_UID.search(item[0]))
        ]
        received, refused = receive_batch(sessions, config, batch, "imap")
        if refused:
            mailbox.move(refused, f"{config.imap_processed_folder}/Refused")
        if received:
            mailbox.move(received, config.imap_processed_folder)
        taken += len(received)
    return taken


def poll_imap(sessions: sessionmaker[Session], config: Config, timeout: float = 30) -> int:
    """Take in what the IMAP folder holds now (``take_imap_folder``) and log out."""
    with imap_mailbox(config, timeout) as mailbox:
        return take_imap_folder(mailbox, sessions, config)


def watch_imap(sessions: sessionmaker[Session], config: Config, stop: threading.Event) -> None:
    """The scheduler leader's IMAP loop until ``stop``: take in the folder, then wait in IDLE for
    the server to say something arrived (where it has IDLE; else every ``imap_interval``), on one
    connection; a lost connection or database is retried with a growing pause, the messages
    staying on the server meanwhile."""
    delay = config.imap_interval
    while not stop.is_set():
        try:
            with imap_mailbox(config) as mailbox:
                idle = "IDLE" in mailbox.client.capabilities
                while not stop.is_set():
                    # while mail keeps coming, look again at once: the server's IDLE news
                    # comes some time after a delivery (Dovecot gathers changes for half a second)
                    while take_imap_folder(mailbox, sessions, config) and not stop.is_set():
                        pass
                    delay = config.imap_interval
                    if idle:
                        mailbox.idle.wait(timeout=IMAP_IDLE_S)
                    elif stop.wait(config.imap_interval):
                        break
        except Exception as err:  # noqa: BLE001 - the server or the database is away: keep trying
            log.warning("imap: %s; trying again in %.1fs", err, delay)
            stop.wait(delay)
            delay = min(max(delay * 2, 1.0), 60.0)
