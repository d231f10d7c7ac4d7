"""Filenames from clients, and the streaming content check (pure functions)."""

from __future__ import annotations

import hashlib
from urllib.parse import unquote

import pytest

from app.files.names import MAX_FILENAME_CHARS, content_disposition, sanitize_filename
from app.files.settings import SUPPORTED_FILE_TYPES
from app.files.verify import CHECKED_TYPES, ContentCheck


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("/absolute/path/report.pdf", "report.pdf"),
        ("..", "file"),
        ("   ", "file"),
        # Right-to-left override: "invoice\u202egnp.exe" shows as "invoiceexe.png".
        ("invoice\u202egnp.exe", "invoicegnp.exe"),
        ("a\u2066b\u2069c\u200f.txt", "abc.txt"),
        ("tab\tnew\nline\x00nul\x7f.txt", "tab new linenul.txt"),
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("Cafe\u0301.txt", "Café.txt"),  # NFC: one code point
        ("履歴書 2026.pdf", "履歴書 2026.pdf"),
    ],
)
def test_sanitize_filename(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_long_names_are_capped_keeping_the_extension() -> None:
    name = sanitize_filename("x" * 500 + ".png")
    assert len(name) == MAX_FILENAME_CHARS
    assert name.endswith("x.png")
    assert len(sanitize_filename("y" * 500)) == MAX_FILENAME_CHARS


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("Résumé 2026.pdf", "Resume 2026.pdf"),
        ("履歴書.pdf", "file.pdf"),
        ("履歴書", "file"),
        ('quote" and \\ back;slash.txt', "quote_ and _ back_slash.txt"),
    ],
)
def test_content_disposition_round_trips_unicode(name: str, fallback: str) -> None:
    header = content_disposition(name)
    assert header.startswith(f'attachment; filename="{fallback}"; ')
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert all(ch.isascii() and ch not in ' ";\\' for ch in encoded)
    assert unquote(encoded) == name


def test_every_supported_type_has_a_content_check() -> None:
    assert set(SUPPORTED_FILE_TYPES) == set(CHECKED_TYPES)


def test_utf8_check_streams_across_chunk_boundaries() -> None:
    text = ("naïve café, Zürich — 東京 " * 1000).encode()
    check = ContentCheck("text/plain")
    for start in range(0, len(text), 7):  # 7-byte chunks split multi-byte characters
        check.feed(text[start : start + 7])
    assert check.finish() is None
    assert check.sha256 == hashlib.sha256(text).hexdigest()
    assert check.size == len(text)


def test_magic_numbers_need_the_whole_signature_even_across_chunks() -> None:
    check = ContentCheck("image/png")
    for byte in b"\x89PNG\r\n\x1a\n rest":
        check.feed(bytes([byte]))
    assert check.finish() is None
    short = ContentCheck("image/png")
    short.feed(b"\x89PNG")
    assert short.finish() is not None
