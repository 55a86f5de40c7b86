"""Email: each message is a folder ``templates/email/<name>/`` with ``subject.txt``, ``body.txt``
and ``body.html`` (Warehouse's layout), rendered in the recipient's language.

Senders sit behind one small interface chosen by configuration: SMTP when
``WORKSTATION_SMTP_URL`` is set, otherwise ``.eml`` files under ``instance/mail/``. Both are
idempotent per key: the file sender names the file by the key, and the SMTP sender derives the
Message-ID from it, so a redelivered message does not make a second, different email.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import smtplib
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from email.generator import BytesGenerator
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import formataddr, formatdate, getaddresses
from functools import cache, cached_property, lru_cache
from pathlib import Path
from time import monotonic
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_eval_context, select_autoescape
from jinja2.nodes import EvalContext
from markupsafe import Markup

from workstation.config import Config
from workstation.i18n import label, translations
from workstation.mailrules import reply_address, thread_root

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

log = logging.getLogger(__name__)


@cache
def _environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # The templates do not change while a process runs: no stat of each file at every use.
        auto_reload=False,
    )
    catalog = translations(language)
    env.install_gettext_translations(catalog, newstyle=True)
    env.globals["_"] = _direct_gettext(catalog.gettext)
    env.globals["label"] = lambda code: label(code, catalog.gettext)
    return env


def _direct_gettext(gettext: Callable[[str], str]) -> Callable[..., str]:
    """``_()`` in our email templates: what the i18n extension's newstyle ``_`` does (translated,
    marked safe where the template escapes, then ``%``-formatted with the keywords, escaped), in
    one call instead of three through the template context (``_`` -> ``gettext`` -> the catalog,
    each a ``Context.call``): a fifth of the CPU of rendering an email was those calls."""

    @pass_eval_context
    def _(eval_ctx: EvalContext, string: str, **variables: Any) -> str:
        text = gettext(string)
        if eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return _


class _QuickFoldCompat32(Compat32):
    """``email``'s default policy, but a short one-line ASCII header is written as it is: the
    default runs every header through ``Header.encode`` to fold it, which was half the CPU of
    flattening one of our emails, to give the same bytes (``tests/test_mail.py`` compares)."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and value.isascii()
            and value == value.strip()
            and "\n" not in value
            and "\r" not in value
            and len(name) + 2 + len(value) <= (self.max_line_length or 0)
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


MAIL_POLICY = _QuickFoldCompat32()


@lru_cache(maxsize=64)
def _footer(language: str, replyable: bool) -> str:
    """The plain-text footer: the same for every email of a language and kind, so rendered once."""
    return _environment(language).get_template("email/_layout/footer.txt").render(replyable=replyable)


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """``MIMEText(text, subtype, "utf-8")``, the same headers and bytes, for a fifth of the CPU:
    MIMEText encodes the text, decodes it again and encodes it in base64 through ``email.charset``."""
    part = MIMENonMultipart("text", subtype, policy=MAIL_POLICY, charset="utf-8")
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(text.encode()).decode("ascii"))
    return part


#: UTF-8 bytes per encoded word of a header: 52 characters of base64, 64 with the word's marks,
#: so that "Subject: " and one word fit in a line of 78.
_WORD_BYTES = 39


def _encoded_words(text: str) -> str:
    """``text`` as RFC 2047 encoded words (UTF-8, base64) between spaces, no character cut in two:
    readers join them again (the spaces between encoded words are not part of the text), and the
    header is folded at those spaces. ``Header(text, "utf-8")`` did the same, but measured every
    prefix of the text in two encodings to choose the shorter and cut the lines: the most costly
    header of an email."""
    data = text.encode()
    words = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # (a character's continuation byte)
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return " ".join(words)


def render_email(name: str, language: str, to: str, config: Config, key: str, **context: Any) -> Message:
    """A multipart (plain text + HTML) email from ``templates/email/<name>/``.

    Built with the ``email.mime`` classes: for a message like ours they are about three times
    faster than ``EmailMessage``'s header registry, and the notify worker builds one per mail.
    """
    env = _environment(language)
    # ``replyable``: the email will carry a case's Reply-To (``about_case``); its footer says so.
    context = {"base_url": config.base_url, "language": language, "replyable": False, **context}
    subject = env.get_template(f"email/{name}/subject.txt").render(context).strip()
    text = env.get_template(f"email/{name}/body.txt").render(context)
    text = text.rstrip("\n") + "\n\n" + _footer(language, bool(context["replyable"]))
    html = env.get_template(f"email/{name}/body.html").render(context)
    # A boundary of our own: left to the generator, it draws one and compiles a regular
    # expression to check it against the text (a tenth of the notify worker's CPU). The parts are
    # base64 (UTF-8), whose lines can never hold "_" or "-": this one cannot clash with them.
    # Short enough for "Content-Type: multipart/alternative; boundary=..." to fit in one line,
    # which is then written as it is instead of folded (``_QuickFoldCompat32``).
    message = MIMEMultipart("alternative", boundary=f"=_rpa_{uuid.uuid4().hex[:16]}", policy=MAIL_POLICY)
    subject = " ".join(subject.split())
    # An ASCII subject that fits in its line goes as it is, the others as UTF-8 encoded words.
    # (An English subject went as quoted-printable words too, whose encoder measures every prefix
    # of the subject: a third of the CPU of writing an English email.) Not one that holds "=?": a
    # reader would take that for the start of an encoded word. Not a longer one: folded at a
    # space, it reads back with the fold in it where a reader does not unfold (encoded words are
    # joined again without the spaces between them).
    fits = len("Subject: ") + len(subject) <= (MAIL_POLICY.max_line_length or 0)
    as_it_is = fits and subject.isascii() and "=?" not in subject
    message["Subject"] = subject if as_it_is else _encoded_words(subject)
    message["From"] = config.mail_from
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{key.replace(':', '.')}@rpa-workstation>"
    message["Content-Language"] = "zh-CN" if language == "zh" else "en"
    # Every email we send is automatic (RFC 3834): well-behaved responders do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.attach(_text_part(text, "plain"))
    message.attach(_text_part(html, "html"))
    return message


def about_case(message: Message, config: Config, reference: str, recipient_id: int) -> Message:
    """Make ``message``, to the person ``recipient_id`` about the case ``reference``, answerable:
    a Reply-To naming the case and the person that nobody can forge (``mailrules.reply_address``),
    and In-Reply-To / References to the case's thread root, so mail clients keep one thread."""
    message["Reply-To"] = reply_address(config.secret_key, config.reply_domain, reference, recipient_id)
    root = thread_root(reference)
    message["In-Reply-To"] = root
    message["References"] = root
    return message


class MailSender(Protocol):
    """Sends emails; ``send`` may be called from several threads at once (``Sending`` does, up to
    ``connections`` at a time)."""

    #: How many emails it can have on their way at once (kept SMTP connections; 1 for files).
    connections: int

    def send(self, message: Message, key: str) -> None: ...

    def close(self) -> None: ...


class FileSender:
    """Writes ``<key>.eml`` under a folder, atomically: a repeat with the same key replaces it."""

    connections = 1  # (writing a file is not worth a thread)

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        return self.folder / (key.replace(":", "_").replace("/", "_") + ".eml")

    def send(self, message: Message, key: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".mail-")
        with os.fdopen(fd, "wb") as f:
            f.write(message.as_bytes())
        os.replace(tmp, self.path_for(key))

    def close(self) -> None:
        pass


#: An address smtplib's ``quoteaddr`` gives back unchanged inside angle brackets: a dot-atom
#: local part and a domain of labels (``_envelope_address`` gives our recipients' so).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_BARE_ADDRESS = re.compile(rf"{_ATOM}(\.{_ATOM})*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


class _Smtp(smtplib.SMTP):
    """smtplib's MAIL FROM and RCPT TO, the same commands, but a bare address is written as
    ``<address>`` without ``quoteaddr`` parsing it again (a sixth of the CPU of sending one of our
    emails); any other address, or SMTPUTF8, the stock way."""

    def mail(self, sender: str, options: Any = ()) -> tuple[int, bytes]:
        if not _BARE_ADDRESS.fullmatch(sender) or any(option.lower() == "smtputf8" for option in options):
            return super().mail(sender, options)
        optionlist = " " + " ".join(options) if options and self.does_esmtp else ""
        self.putcmd("mail", f"FROM:<{sender}>{optionlist}")
        return self.getreply()

    def rcpt(self, recip: str, options: Any = ()) -> tuple[int, bytes]:
        if not _BARE_ADDRESS.fullmatch(recip):
            return super().rcpt(recip, options)
        optionlist = " " + " ".join(options) if options and self.does_esmtp else ""
        self.putcmd("rcpt", f"TO:<{recip}>{optionlist}")
        return self.getreply()


class _SmtpSsl(_Smtp, smtplib.SMTP_SSL):
    """``_Smtp`` over TLS from the start (smtps://)."""


class SmtpSender:
    """``smtp://[user:password@]host[:port]`` (STARTTLS when offered), or ``smtps://`` (TLS).

    Connections are kept open and reused from send to send: a new one per email (connect, EHLO,
    STARTTLS, login) cost more than the email itself, and building the TLS context (loading the
    system's CA bundle) took milliseconds of CPU each time. Up to ``connections`` sends run at
    once, each on a connection of its own (the notify worker's ``Sending``, the scheduler's job
    threads); a connection idle for a while is checked with NOOP before it is used again (servers
    close idle ones), and any failure drops it, so that send's next one starts afresh.
    """

    #: Seconds a connection may sit idle before it is checked with NOOP before the next send.
    IDLE_CHECK = 5.0

    def __init__(self, url: str, timeout: float = 10, connections: int = 1) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps"):
            raise ValueError("WORKSTATION_SMTP_URL must start with smtp:// or smtps://")
        self.tls = parsed.scheme == "smtps"
        self.host = parsed.hostname or "localhost"
        self.port = parsed.port or (465 if self.tls else 25)
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.timeout = timeout
        self.connections = max(1, connections)
        #: kept connections not in use, each with when it was last used (the latest last)
        self._idle: list[tuple[smtplib.SMTP, float]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.connections)

    @cached_property
    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.tls:
            client: smtplib.SMTP = _SmtpSsl(self.host, self.port, timeout=self.timeout, context=self._tls_context)
        else:
            client = _Smtp(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if not self.tls and client.has_extn("starttls"):
                client.starttls(context=self._tls_context)
                client.ehlo()
            if self.username:
                client.login(self.username, self.password or "")
        except BaseException:
            client.close()
            raise
        return client

    def _kept_client(self) -> smtplib.SMTP | None:
        """A kept connection that still answers, or None."""
        with self._lock:
            client, last_used = self._idle.pop() if self._idle else (None, 0.0)
        if client is not None and monotonic() - last_used > self.IDLE_CHECK:
            try:
                alive = client.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                _quit(client)
                return None
        return client

    def send(self, message: Message, key: str) -> None:
        with self._slots:
            client = self._send(message)
            with self._lock:
                self._idle.append((client, monotonic()))

    def _send(self, message: Message) -> smtplib.SMTP:
        """Send on a kept connection (or a new one); the connection, to keep, or the failure (the
        connection's state is then unknown: it is closed)."""
        kept = self._kept_client()
        client = kept or self._connect()
        try:
            try:
                _send_on(client, message)
            except smtplib.SMTPServerDisconnected:
                if kept is None:
                    raise
                # A kept connection the server dropped since (a restart, an idle timeout shorter
                # than IDLE_CHECK): once more on a new one. Should the drop have come after the
                # server took the message, this repeats it with the same Message-ID: at least once.
                _quit(client)
                client = self._connect()
                _send_on(client, message)
        except BaseException:
            _quit(client)
            raise
        return client

    def close(self) -> None:
        """Close the kept connections (a later send opens a new one)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for client, _ in idle:
            _quit(client)


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


class Sending:
    """Emails handed to ``sender`` to go out up to ``sender.connections`` at once, while the caller
    builds the next: one at a time, a worker and the SMTP server took turns (each waiting for the
    other's answer at every command), and with a relay far away every email cost its round trips.

    ``with Sending(sender) as sending: sending.check(); sending.submit(message, key)``: ``submit``
    hands an email over once there are fewer than two per connection on their way (one sending,
    one waiting behind it: a batch's time limit still counts sends, not emails queued; waiting
    for a free connection each time cost the worker a wakeup per email), ``check`` raises the
    first failure known so far (the caller then hands nothing more over). Leaving the block waits
    for every email handed over (none is left on its way, even when interrupted), then raises the
    first failure, if any. ``sent``: the keys of those sent.
    """

    def __init__(self, sender: MailSender) -> None:
        self.sender = sender
        self.sent: set[str] = set()
        self.failure: BaseException | None = None
        self._pool = ThreadPoolExecutor(sender.connections) if sender.connections > 1 else None
        self._on_the_way: dict[Future[None], str] = {}

    def __enter__(self) -> Sending:
        return self

    def check(self) -> None:
        """Raise the first failure of the emails sent so far, if one is known."""
        if self._pool is not None:
            self._collect(list(self._on_the_way))
        if self.failure is not None:
            raise self.failure

    def submit(self, message: Message, key: str) -> None:
        """Send ``message`` now (one connection), or hand it over as soon as there is room."""
        if self._pool is None:
            self.sender.send(message, key)
            self.sent.add(key)
            return
        while len(self._on_the_way) >= 2 * self.sender.connections:
            self._collect(wait(self._on_the_way, return_when=FIRST_COMPLETED).done)
        self._on_the_way[self._pool.submit(self.sender.send, message, key)] = key

    def _collect(self, futures: Iterable[Future[None]]) -> None:
        """Record the outcome of those of ``futures`` that are done."""
        for future in futures:
            if not future.done():
                continue
            key = self._on_the_way.pop(future)
            if future.cancelled():
                continue
            error = future.exception()
            if error is None:
                self.sent.add(key)
            elif self.failure is None:
                self.failure = error

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._pool is not None:
            try:
                self._collect(wait(self._on_the_way).done)
            finally:
                # (interrupted while waiting: each email on its way still ends, and is counted)
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._collect(list(self._on_the_way))
        if self.failure is None:
            return
        if kind is None:
            raise self.failure
        log.warning("an email of the batch failed too: %s: %s", type(self.failure).__name__, self.failure)


#: Headers after which ``smtplib``'s ``send_message`` is left to choose the envelope itself.
_ENVELOPE_HEADERS = frozenset({"sender", "cc", "bcc", "resent-date", "resent-from", "resent-to", "resent-sender"})


def _send_on(client: smtplib.SMTP, message: Message) -> None:
    """``client.send_message(message)``: for our emails (a From and a To, ASCII addresses) the same
    envelope and bytes, without parsing the same From and To addresses for every email."""
    sender, to = message["From"], message["To"]
    names = {name.lower() for name in message}  # (its header names)
    if not isinstance(sender, str) or not isinstance(to, str) or not names.isdisjoint(_ENVELOPE_HEADERS):
        client.send_message(message)
        return
    envelope = _envelope_address(sender), _envelope_address(to)
    if not all(envelope) or not all(a.isascii() for a in envelope):
        client.send_message(message)  # (SMTPUTF8 when the server offers it)
        return
    client.sendmail(envelope[0], [envelope[1]], _flatten(message, "\r\n"))  # (as send_message does)


#: How ``email.generator`` finds the line ends of a payload (``NLCRE``).
_LINE_ENDS = re.compile(r"\r\n|\r|\n")


def _flatten(message: Message, linesep: str) -> bytes:
    """``BytesGenerator(fp).flatten(message, linesep=linesep)``, the same bytes for half the CPU
    when ``message`` is shaped as ``render_email`` makes it: a multipart (not signed) of text parts
    with ASCII payloads (base64 here), no preamble or epilogue. Any other goes to the generator.
    The headers are folded by the message's policy as the generator does; what is saved is the
    generator's machinery around them (a generator, a buffer and a dispatch per part)."""
    parts = message.get_payload()
    if not (
        isinstance(parts, list)
        and message.preamble is None
        and message.epilogue is None
        and message.get_content_subtype() != "signed"
        and message.get_boundary()
        and all(_plain_text_part(part) for part in parts)
    ):
        flat = io.BytesIO()
        BytesGenerator(flat).flatten(message, linesep=linesep)
        return flat.getvalue()
    policy = _with_linesep(message.policy, linesep)
    boundary = message.get_boundary()
    chunks = [_folded_headers(message, policy), f"--{boundary}{linesep}".encode()]
    for index, part in enumerate(parts):
        if index:
            chunks.append(f"{linesep}--{boundary}{linesep}".encode())
        chunks.append(_folded_headers(part, policy))
        chunks.append(_LINE_ENDS.sub(linesep, part.get_payload()).encode("ascii"))
    chunks.append(f"{linesep}--{boundary}--{linesep}".encode())
    return b"".join(chunks)


def _plain_text_part(part: Any) -> bool:
    """A part the generator writes as its headers and its payload's lines, nothing changed: text,
    ASCII (no surrogates to re-encode), no line starting "From " (the generator would quote it)."""
    payload = part.get_payload() if isinstance(part, Message) and not part.is_multipart() else None
    return (
        isinstance(payload, str)
        and payload.isascii()
        and "From " not in payload
        and part.get_content_maintype() == "text"
    )


@lru_cache(maxsize=8)
def _with_linesep(policy: Compat32, linesep: str) -> Compat32:
    return policy.clone(linesep=linesep)


def _folded_headers(message: Message, policy: Compat32) -> bytes:
    """The message's headers as the generator writes them, and the blank line after them."""
    return b"".join(policy.fold_binary(name, value) for name, value in message.raw_items()) + policy.linesep.encode()


@lru_cache(maxsize=4096)
def _envelope_address(header: str) -> str:
    """The address of a one-address header, as ``send_message`` takes it ("" if there is none)."""
    found = getaddresses([header])
    return found[0][1] if len(found) == 1 else ""


def make_sender(config: Config) -> MailSender:
    if config.smtp_url:
        return SmtpSender(config.smtp_url, connections=config.smtp_connections)
    return FileSender(config.mail_dir)


@lru_cache(maxsize=4096)
def address(name: str, email: str) -> str:
    """``Name <email>`` with a non-ASCII name encoded for the header (the same people are mailed
    again and again, and encoding a name goes through ``email.charset``: kept)."""
    return formataddr((name, email), charset="utf-8")
