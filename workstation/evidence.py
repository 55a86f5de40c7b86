"""Evidence files: size-capped, type sniffed from the bytes, stored by SHA-256 under the instance.

Validation happens before anything is written to the database; a file is stored under its hash,
so the same bytes uploaded twice are kept once and the hash is the enterprise's receipt.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype

from workstation.i18n import Message

# extension -> the MIME type its bytes must sniff as (None: text, which has no magic number)
ALLOWED: dict[str, str | None] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "txt": None,
    "csv": None,
}
MAX_FILES = 10
#: Characters of a stored file name (the column's size).
MAX_NAME = 255
#: An extension longer than this is not one we accept anyway: no need to keep it when shortening.
MAX_EXTENSION = 16


class UploadError(ValueError):
    def __init__(self, template: str, too_large: bool = False, **params: object) -> None:
        self.message = Message(template, **params)
        super().__init__(self.message)
        self.too_large = too_large


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    filename: str
    content_type: str
    size: int


def safe_filename(name: str) -> str:
    """The last path component only, without control characters, at most ``MAX_NAME`` characters
    (kept for display)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    while name.startswith("."):  # not hidden, however dots and spaces mix before the name
        name = name.lstrip(".").lstrip()
    if len(name) <= MAX_NAME:
        return name
    # Shortened before the extension: the type is checked by it, and a long name is no reason
    # to refuse a file (a Chinese description of a photo easily runs past 255 characters).
    stem, dot, extension = name.rpartition(".")
    if dot and stem and len(extension) <= MAX_EXTENSION:
        return stem[: MAX_NAME - len(extension) - 1].rstrip() + "." + extension
    return name[:MAX_NAME].rstrip()


def sniff(filename: str, data: bytes) -> str:
    """Return the content type if the bytes are what the extension says, else raise UploadError."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext not in ALLOWED:
        raise UploadError(
            "Files of type .%(ext)s are not accepted; use PDF, images, DOCX, XLSX, TXT or CSV.", ext=ext or "?"
        )
    expected = ALLOWED[ext]
    kind = filetype.guess(data)
    if expected is None:
        if kind is not None or b"\x00" in data:
            raise UploadError("%(name)s: the content is not plain text.", name=filename)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise UploadError("%(name)s: text files must be UTF-8.", name=filename) from None
        return "text/csv" if ext == "csv" else "text/plain"
    if kind is None or kind.mime != expected:
        found = kind.mime if kind else "unrecognised content"
        raise UploadError(
            "%(name)s: the content (%(found)s) does not match the .%(ext)s extension.",
            name=filename,
            found=found,
            ext=ext,
        )
    if ext in OFFICE_PARTS:
        check_office_archive(filename, data, OFFICE_PARTS[ext])
    return expected


#: DOCX and XLSX are zip archives: the part each must hold.
OFFICE_PARTS = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml"}
#: What an accepted archive may expand to, in all and per byte stored (real documents' XML
#: deflates about 5-20:1, their images not at all; a zip bomb's members 1000:1 and more), and how
#: many members it may have. An expert's Word or Excel opens it; it must not be a trap.
MAX_EXPANDED_BYTES = 200 * 1024 * 1024
MAX_RATIO = 100
RATIO_FROM_BYTES = 1024 * 1024  # small members may deflate better (a page of one repeated cell)
MAX_MEMBERS = 10_000


def check_office_archive(filename: str, data: bytes, required_part: str) -> None:
    """Refuse a DOCX or XLSX that is not a sound archive of its kind or expands like a zip bomb.

    The sizes the archive declares are checked first, then every member is decompressed (bounded
    by those sizes, as ``zipfile`` reads no further) and its checksum verified: an archive that
    declares small sizes but holds more fails there.
    """
    kind = filename.rsplit(".", 1)[-1].upper()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            expanded = sum(m.file_size for m in members)
            bomb = (
                len(members) > MAX_MEMBERS
                or expanded > MAX_EXPANDED_BYTES
                or any(m.file_size > RATIO_FROM_BYTES and m.file_size > MAX_RATIO * m.compress_size for m in members)
            )
            sound = not bomb and required_part in archive.NameToInfo and archive.testzip() is None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, EOFError, zlib.error):
        bomb, sound = False, False
    if bomb:
        raise UploadError(
            "%(name)s expands to %(mb)d MB in %(n)d parts: refused as a possible zip bomb.",
            name=filename,
            mb=expanded // (1024 * 1024),
            n=len(members),
        )
    if not sound:
        raise UploadError("%(name)s: not a valid %(kind)s document.", name=filename, kind=kind)


def read_capped(stream: BinaryIO, max_bytes: int, filename: str) -> bytes:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadError(
            "%(name)s is larger than %(mb)d MB.", too_large=True, name=filename, mb=max_bytes // (1024 * 1024)
        )
    return data


def validate_upload(filename: str, stream: BinaryIO, max_bytes: int) -> tuple[str, bytes, str]:
    name = safe_filename(filename)
    if not name:
        raise UploadError("A file has no name.")
    data = read_capped(stream, max_bytes, name)
    if not data:
        raise UploadError("%(name)s is empty.", name=name)
    return name, data, sniff(name, data)


def store(root: Path, filename: str, data: bytes, content_type: str) -> StoredFile:
    """Write ``data`` under ``root/<aa>/<sha256>`` (atomically; a second copy is a no-op)."""
    digest = hashlib.sha256(data).hexdigest()
    folder = root / digest[:2]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / digest
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    return StoredFile(digest, filename, content_type, len(data))


def human_size(size: int) -> str:
    """A file's size as people read it: 512 B, 12.3 KB, 4.0 MB (the same in every language)."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def path_of(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256
