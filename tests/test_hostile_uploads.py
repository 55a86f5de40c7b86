"""Hostile evidence uploads, through ``POST /api/v1/cases`` and the ``/cases/new`` form: names that
try to leave the evidence folder, archives (a zip bomb among them), too many files, files and
requests over the caps. ``test_api`` has the plain wrong-type, empty and 30 MB cases.

A refusal writes nothing (no case, no file); an accepted hostile name is reduced to a plain file
name, and the bytes are stored only under their hash inside the evidence folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import CASE
from tests.test_api import PDF, counts
from tests.test_web import FORM, csrf_token, login
from workstation.config import Config
from workstation.evidence import MAX_FILES
from workstation.web import create_app

BOUNDARY = "hostile-upload-boundary"


def raw_multipart(files: list[tuple[bytes, bytes]], case: dict | None = None) -> tuple[bytes, str]:
    """A multipart body written byte by byte, as a browser or curl sends it: ``files`` are
    (filename as it goes on the wire, content). (Werkzeug's test client escapes names itself.)"""
    parts = [
        b'Content-Disposition: form-data; name="case"\r\n\r\n' + json.dumps(case or CASE).encode(),
        *(
            b'Content-Disposition: form-data; name="evidence"; ' + name + b"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + data
            for name, data in files
        ),
    ]
    separator = b"--" + BOUNDARY.encode()
    body = b"".join(separator + b"\r\n" + part + b"\r\n" for part in parts) + separator + b"--\r\n"
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def assert_nothing_written(sessions, config: Config) -> None:  # noqa: ANN001
    assert counts(sessions) == (0, 0, 0, 0), "no case, event, outbox row or evidence row"
    assert files_under(config.evidence_dir) == set(), "no file in the evidence folder"


# (filename parameter on the wire, the name the receipt must show). Backslashes in a quoted name
# are escapes to the parser, so an old browser's Windows path arrives without them: one plain name.
HOSTILE_NAMES = [
    (b'filename="../../etc/passwd.pdf"', "passwd.pdf"),
    (rb'filename="..\..\windows\win.ini.pdf"', "windowswin.ini.pdf"),
    (b'filename="/etc/shadow.pdf"', "shadow.pdf"),
    (rb'filename="C:\Windows\System32\drivers.pdf"', "C:WindowsSystem32drivers.pdf"),
    # RFC 5987: percent-encoded separators and a NUL are decoded by the parser, and must not survive.
    (b"filename*=UTF-8''..%2F..%2Fvar%2F%E8%AF%81%E6%8D%AE%00.pdf", "证据.pdf"),
    (b"filename*=UTF-8''..%5C..%5Cboot.ini.pdf", "boot.ini.pdf"),
    (b'filename=".hidden.pdf"', "hidden.pdf"),
    (b'filename="a\x00b.pdf"', "ab.pdf"),
    # Longer than the column: shortened before the extension, not refused for losing it.
    (f'filename="{"侵权商品照片" * 60}.pdf"'.encode(), ("侵权商品照片" * 60)[: 255 - 4] + ".pdf"),
]


def test_hostile_file_names_become_plain_names_and_the_files_stay_in_the_evidence_folder(
    client, people, config, tmp_path
) -> None:  # noqa: ANN001
    before = files_under(tmp_path)
    # One submission, a different file under each name (so each is stored on its own).
    contents = [PDF + f"% {i}\n".encode() for i in range(len(HOSTILE_NAMES))]
    body, content_type = raw_multipart([(name, data) for (name, _), data in zip(HOSTILE_NAMES, contents, strict=True)])
    response = client.post(
        "/api/v1/cases", data=body, headers={**people.headers("enterprise"), "Content-Type": content_type}
    )
    assert response.status_code == 201, response.get_json()
    shown = [e["filename"] for e in response.get_json()["evidence"]]
    assert shown == [name for _, name in HOSTILE_NAMES]
    assert all(len(name) <= 255 for name in shown)
    # The new files are the evidence, each named by its hash inside the evidence folder; nothing
    # landed anywhere a name pointed to.
    stored = {config.evidence_dir / d[:2] / d for d in (hashlib.sha256(c).hexdigest() for c in contents)}
    assert {p for p in files_under(tmp_path) - before if not p.name.startswith("workstation.db")} == stored


def assert_refused(client, people, data: bytes, name: str, message: str) -> None:  # noqa: ANN001
    """The API answers 400 to a case with this one file, saying ``message`` about it."""
    response = client.post(
        "/api/v1/cases",
        content_type="multipart/form-data",
        data={"case": json.dumps(CASE), "evidence": [(io.BytesIO(data), name)]},
        headers=people.headers("enterprise"),
    )
    assert response.status_code == 415, name
    assert message in " ".join(response.get_json()["errors"]["evidence"]), name


def zip_bomb(expanded_bytes: int = 64 * 1024 * 1024) -> bytes:
    """A small zip that expands to ``expanded_bytes`` of zeros (about 1000:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("evidence.txt", "w") as member:
        chunk = bytes(1024 * 1024)
        for _ in range(expanded_bytes // len(chunk)):
            member.write(chunk)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = zip_bomb()
    assert len(data) < 1024 * 1024, "small on the wire, large when expanded"
    return data


def test_a_zip_bomb_is_refused_under_any_name_and_nothing_is_written(client, people, sessions, config, bomb) -> None:  # noqa: ANN001, E501
    # Archives are not accepted: as .zip by the extension, under any other name by the content.
    for name, message in (("evidence.zip", "not accepted"), ("evidence.docx", "does not match"),
                          ("scan.pdf", "does not match")):  # fmt: skip
        assert_refused(client, people, bomb, name, message)
    assert_nothing_written(sessions, config)


def office_file(parts: list[tuple[str, bytes]]) -> bytes:
    """A DOCX or XLSX as Word and Excel write one: a deflated zip of XML parts."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts:
            archive.writestr(name, data)
    return buffer.getvalue()


DOCX = office_file([("[Content_Types].xml", b"<Types/>"), ("_rels/.rels", b"<Relationships/>"),
                    ("word/document.xml", "<w:document>侵权比对报告 ".encode() * 500 + b"</w:document>")])  # fmt: skip
XLSX = office_file([("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<workbook/>"),
                    ("xl/worksheets/sheet1.xml", b"<row>1</row>" * 2000)])  # fmt: skip


def docx_bomb() -> bytes:
    """A zip bomb dressed as a DOCX: its bytes sniff as one, its document expands 1000:1."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open("word/document.xml", "w") as member:
            for _ in range(64):
                member.write(bytes(1024 * 1024))
    return buffer.getvalue()


def corrupted(document: bytes, part: str) -> bytes:
    """``document`` with one byte of ``part``'s compressed data flipped (its checksum fails)."""
    info = zipfile.ZipFile(io.BytesIO(document)).getinfo(part)
    at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 3
    return document[:at] + bytes([document[at] ^ 0xFF]) + document[at + 1 :]


def test_office_documents_are_accepted_but_a_docx_bomb_or_a_broken_one_is_refused(
    client, people, sessions, config
) -> None:  # noqa: ANN001, E501
    refused = [
        (docx_bomb(), "bomb.docx", "refused as a possible zip bomb"),
        (corrupted(DOCX, "word/document.xml"), "broken.docx", "not a valid DOCX document"),
        # sniffs as a DOCX (its first part is under word/) but lacks the document itself
        (office_file([("word/styles.xml", b"<styles/>")]), "hollow.docx", "not a valid DOCX document"),
        (DOCX[: len(DOCX) // 2], "cut.docx", "not a valid DOCX document"),  # no central directory
    ]
    for data, name, message in refused:
        assert_refused(client, people, data, name, message)
    assert_nothing_written(sessions, config)
    response = client.post(
        "/api/v1/cases",
        content_type="multipart/form-data",
        data={
            "case": json.dumps(CASE),
            "evidence": [(io.BytesIO(DOCX), "比对报告.docx"), (io.BytesIO(XLSX), "损失.xlsx")],
        },
        headers=people.headers("enterprise"),
    )
    assert response.status_code == 201, response.get_json()
    assert [e["filename"] for e in response.get_json()["evidence"]] == ["比对报告.docx", "损失.xlsx"]


def test_a_file_whose_name_is_nothing_once_cleaned_is_refused(client, people, sessions, config) -> None:  # noqa: ANN001
    for name in ("...", "../", "\x00\x01", " . "):
        response = client.post(
            "/api/v1/cases",
            content_type="multipart/form-data",
            data={"case": json.dumps(CASE), "evidence": [(io.BytesIO(PDF), name)]},
            headers=people.headers("enterprise"),
        )
        assert response.status_code == 415, repr(name)
        assert response.get_json()["errors"]["evidence"] == ["A file has no name."], repr(name)
    assert_nothing_written(sessions, config)


def test_one_file_more_than_allowed_is_refused_and_nothing_is_written(client, people, sessions, config) -> None:  # noqa: ANN001
    # Each file valid and different: only their number is wrong.
    files = [(io.BytesIO(PDF + str(i).encode()), f"page{i}.pdf") for i in range(MAX_FILES + 1)]
    response = client.post(
        "/api/v1/cases",
        content_type="multipart/form-data",
        data={"case": json.dumps(CASE), "evidence": files},
        headers=people.headers("enterprise"),
    )
    assert response.status_code == 400
    assert response.get_json()["errors"]["evidence"] == [f"At most {MAX_FILES} files per submission."]
    assert_nothing_written(sessions, config)


@pytest.fixture
def capped(config: Config) -> tuple[Flask, Config]:
    """The app with small caps: 1 KB per file, 16 KB per request."""
    capped_config = dataclasses.replace(config, max_upload_bytes=1024, max_request_bytes=16 * 1024)
    app = create_app(capped_config)
    app.config["TESTING"] = True
    yield app, capped_config
    app.extensions["workstation"]["engine"].dispose()


def test_a_file_over_the_upload_cap_is_413_and_nothing_is_written(capped, people, sessions) -> None:  # noqa: ANN001
    app, config = capped
    big = PDF + b"0" * 1024
    response = app.test_client().post(
        "/api/v1/cases",
        content_type="multipart/form-data",
        data={"case": json.dumps(CASE), "evidence": [(io.BytesIO(PDF), "small.pdf"), (io.BytesIO(big), "big.pdf")]},
        headers=people.headers("enterprise"),
    )
    assert response.status_code == 413
    assert response.get_json()["errors"]["evidence"][0].startswith("big.pdf is larger than")
    assert_nothing_written(sessions, config)


def test_a_request_over_the_request_cap_is_413_in_the_api_error_shape(capped, people, sessions) -> None:  # noqa: ANN001
    app, config = capped
    body, content_type = raw_multipart([(b'filename="scan.pdf"', PDF + b"0" * 32 * 1024)])
    response = app.test_client().post(
        "/api/v1/cases", data=body, headers={**people.headers("enterprise"), "Content-Type": content_type}
    )
    assert response.status_code == 413
    assert set(response.get_json()) == {"errors"} and response.get_json()["errors"]["_request"]
    assert_nothing_written(sessions, config)


# --- the same through the web form -------------------------------------------------------------


def post_form(client, people, files: list[tuple[bytes, str]]):  # noqa: ANN001, ANN201
    login(client, people.other_enterprise.email)  # (the one whose pages are in English)
    token = csrf_token(client.get("/cases/new").get_data(as_text=True))
    data = {**FORM, "csrf_token": token, "evidence": [(io.BytesIO(content), name) for content, name in files]}
    return client.post("/cases/new", data=data, content_type="multipart/form-data")


def test_the_form_refuses_bad_files_saying_why_and_writes_nothing(client, people, sessions, config, bomb) -> None:  # noqa: ANN001, E501
    cases = [
        ([(b"", "empty.pdf")], "empty.pdf is empty."),
        ([(bomb, "bomb.zip")], "Files of type .zip are not accepted"),
        ([(PDF + str(i).encode(), f"p{i}.pdf") for i in range(MAX_FILES + 1)], f"At most {MAX_FILES} files"),
    ]
    for files, message in cases:
        response = post_form(client, people, files)
        assert response.status_code == 400, message  # (a page shown again with its errors)
        assert message in response.get_data(as_text=True)
    assert_nothing_written(sessions, config)


def test_the_form_answers_413_for_a_file_over_the_cap_and_writes_nothing(capped, people, sessions) -> None:  # noqa: ANN001
    app, config = capped
    response = post_form(app.test_client(), people, [(PDF + b"0" * 2048, "big.pdf")])
    assert response.status_code == 413
    assert "big.pdf" in response.get_data(as_text=True)
    assert_nothing_written(sessions, config)
