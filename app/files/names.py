"""User-supplied file names: made safe to display and to put in a Content-Disposition header."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_FILENAME_CHARS = 200
FALLBACK_NAME = "file"
# Control, format (bidi overrides, zero-width), surrogate, private-use, unassigned, separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SPACES = re.compile(r"\s+")
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9 ._()+,=@-]")


def sanitize_filename(raw: str) -> str:
    """A display name: no path parts, no invisible or direction-changing characters, capped."""
    name = unicodedata.normalize("NFC", raw)
    # The last path segment only, whichever separator the client's OS uses.
    name = re.split(r"[/\\]", name)[-1]
    # Tabs and line breaks become spaces; other invisible characters go.
    name = _SPACES.sub(" ", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = _SPACES.sub(" ", name).strip(" .")
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_FILENAME_CHARS - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip(" .")
    return name or FALLBACK_NAME


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name as RFC 5987 ``filename*``."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = _UNSAFE_ASCII.sub("_", ascii_name).strip(" ")
    stem, dot, extension = ascii_name.rpartition(".")
    if not (stem if dot else extension).strip(" ._"):
        # Nothing left of the name itself (say, all CJK): keep the extension at least.
        ascii_name = FALLBACK_NAME + (dot + extension if dot else "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
