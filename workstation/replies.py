"""Reading a mail someone wrote (pure): its text without the quoted history and the signature, and
its attached files.

The quote is cut with mail-parser-reply, whose table of patterns is extended (not forked) with
what Chinese clients write: "写道：" lines with any date (Gmail, 163, Apple Mail), the
``-----原始邮件-----`` separators of Outlook and QQ Mail / Foxmail, header blocks with full-width
colons and the Traditional labels, and mobile footers ("发自我的iPhone"). The text/plain part is
preferred; an HTML-only mail is cut where its quote begins (Gmail's ``gmail_quote``, Outlook's
``divRplyFwdMsg``, Apple's ``blockquote type=cite``, ...) before it is turned into text, and its
scripts and styles are dropped, never kept.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32
from html import unescape
from html.parser import HTMLParser

from mailparser_reply import EmailMessage
from mailparser_reply.constants import MAIL_LANGUAGES, QUOTED_MATCH_INCLUDE

from workstation.mailrules import decode_bytes, header_text

_Q = QUOTED_MATCH_INCLUDE
#: The patterns added for Chinese clients (a "language" of mail-parser-reply's table).
CHINESE_CLIENTS = "rpa_zh"
MAIL_LANGUAGES.setdefault(
    CHINESE_CLIENTS,
    {
        "wrote_header": (
            rf"^({_Q}[^\n]*\d{{4}}[^\n]*(?:写道|寫道)\s*[：:])\s*$"
            rf"|^({_Q}-{{3,}}\s*(?:原始邮件|原始郵件|Original Message|转发邮件|轉寄郵件)\s*-{{3,}})\s*$"
        ),
        "from_header": (
            rf"((?:(?:^|\n|\n{_Q})[* ]*(?:发件人|發件人|寄件者|发送时间|發送時間|寄件日期|收件人|收件者"
            rf"|主题|主旨|抄送|副本|日期|时间|From|Sent|Date|To|Subject|Cc)"
            rf"\s*[:：][ *]*(?:\s{{,2}}).*){{2,}}(?:\n.*){{,1}})"
        ),
        "signatures": ["此致", "顺颂商祺", "顺祝商祺"],
        "sent_from": (
            r"(?:发自|發自|来自|從我的|从我的)(?=我的|網易|网易|手机|手機|QQ|WPS|Outlook|iPhone|iPad|华为|HUAWEI|小米)"
        ),
    },
)
_LANGUAGES = ["zh", CHINESE_CLIENTS, "en"]


def strip_quote(text: str) -> str:
    """The newest reply in ``text``: no quoted history, no signature, no mobile footer."""
    if not text.strip():
        return ""
    parsed = EmailMessage(text=text, languages=list(_LANGUAGES), keep_hyphen_lists=True).read()
    if not parsed.replies:
        return text.strip()
    return parsed.replies[0].body.strip()


# --- HTML -------------------------------------------------------------------------------------------

_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre", "hr"}
_DROPPED = {"script", "style", "head", "title", "noscript", "template", "iframe", "object", "svg"}
#: Where a client's HTML reply puts the quoted history.
_QUOTE_CLASSES = {"gmail_quote", "gmail_extra", "yahoo_quoted", "moz-cite-prefix", "protonmail_quote"}
_QUOTE_IDS = {"divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container", "isreplycontent",
              "original-content", "reply-content"}  # fmt: skip


class _TextOfHtml(HTMLParser):
    def __init__(self, cut_quote: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.cut_quote = cut_quote
        self.out: list[str] = []
        self.dropping = 0
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        classes = set(values.get("class", "").lower().split())
        if self.cut_quote and (
            classes & _QUOTE_CLASSES
            or values.get("id", "").lower() in _QUOTE_IDS
            or (tag == "blockquote" and values.get("type", "").lower() == "cite")
        ):
            self.done = True
            return
        if tag in _DROPPED:
            self.dropping += 1
        elif tag in _BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED and self.dropping:
            self.dropping -= 1
        elif tag in _BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.done and not self.dropping:
            self.out.append(data)


def html_to_text(html: str, cut_quote: bool = True) -> str:
    """The text a person reads in ``html``: scripts, styles and (with ``cut_quote``) the quoted
    history dropped; blocks as lines."""
    parser = _TextOfHtml(cut_quote)
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - hopeless markup: its text without tags
        return unescape(re.sub(r"<[^>]*>", " ", html))
    text = "".join(parser.out).replace("\xa0", " ")
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- the mail ---------------------------------------------------------------------------------------


@dataclass
class MailFile:
    filename: str
    data: bytes
    content_type: str


@dataclass
class ReadMail:
    """A mail as the workstation reads it."""

    message: Message
    subject: str
    text: str  # the newest reply: quoted history and signature removed
    files: list[MailFile] = field(default_factory=list)
    #: names of the files beyond ``max_files`` (not decoded)
    more_files: list[str] = field(default_factory=list)


def parse(raw: bytes) -> Message:
    """The MIME structure of ``raw`` (the lenient compat32 parser: a broken mail is read as far as it goes)."""
    return email.message_from_bytes(raw, policy=compat32)


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    if part.get_filename() is None and part.get_param("name") is None:
        return disposition == "attachment" and part.get_content_maintype() != "text"
    # an image embedded in the HTML (a signature's logo) is not a file someone sent
    return not (disposition == "inline" and part.get("Content-ID") and part.get_content_maintype() == "image")


def _filename(part: Message, index: int) -> str:
    name = part.get_filename() or part.get_param("name") or ""
    if isinstance(name, tuple):  # RFC 2231 the parser could not decode
        name = decode_bytes(name[2].encode("latin-1", "replace"), name[0])
    name = header_text(name)
    return name or f"attachment-{index}"


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def read_mail(message: Message, max_files: int) -> ReadMail:
    """``message``'s newest reply as text and its files (the first ``max_files`` decoded)."""
    plain: str | None = None
    html: str | None = None
    files: list[MailFile] = []
    more: list[str] = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        if _is_attachment(part):
            name = _filename(part, index)
            if len(files) < max_files:
                data = part.get_payload(decode=True)
                files.append(MailFile(name, data if isinstance(data, bytes) else b"", part.get_content_type()))
            else:
                more.append(name)
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = _part_text(part)
        elif kind == "text/html" and html is None:
            html = _part_text(part)
    if plain is not None and plain.strip():
        text = strip_quote(plain)
    elif html is not None:
        text = strip_quote(html_to_text(html))
    else:
        text = ""
    return ReadMail(message, header_text(message.get("Subject", "")).strip(), storable_text(text), files, more)


_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(text: str) -> str:
    """``text`` the databases can store: no NUL, unpaired surrogates made U+FFFD."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))
