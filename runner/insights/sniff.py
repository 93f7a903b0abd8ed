"""Look at a file's first bytes: its format, compression and encoding, or why it is unusable.

Every problem found here is the file's fault, so it is raised as PermanentFailure with a
message that names the file: retrying would not change the bytes.
"""

from __future__ import annotations

import codecs
import gzip
import json
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from runner.errors import PermanentFailure

HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"

# Formats we can tell apart by their first bytes, and what to call the rest.
PARQUET_MAGIC = b"PAR1"
ZIP_MAGIC = b"PK\x03\x04"
OTHER_MAGIC = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x7fELF": "an executable",
    b"\xd0\xcf\x11\xe0": "a legacy Office file (.xls/.doc)",
    b"SQLite format 3": "an SQLite database",
    b"BZh": "a bzip2 archive",
    b"\xfd7zXZ": "an xz archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
}


class Format(StrEnum):
    """The input formats the workflow reads."""

    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"
    XLSX = "xlsx"


EXTENSIONS = {
    ".csv": Format.CSV,
    ".tsv": Format.CSV,
    ".tab": Format.CSV,
    ".txt": Format.CSV,
    ".json": Format.JSON,
    ".jsonl": Format.JSON,
    ".ndjson": Format.JSON,
    ".parquet": Format.PARQUET,
    ".pq": Format.PARQUET,
    ".xlsx": Format.XLSX,
    ".xlsm": Format.XLSX,
}


@dataclass(frozen=True)
class Probe:
    """What the first bytes of a file say about it."""

    path: Path
    name: str
    fmt: Format
    gzipped: bool
    head: bytes  # the first bytes after decompression
    encoding: str | None = None  # text formats only

    def fail(self, problem: str) -> PermanentFailure:
        """The exception for a problem with this file."""
        return PermanentFailure(f"{self.name}: {problem}")


def probe(path: str, name: str | None = None) -> Probe:
    """Identify a file, or raise PermanentFailure saying why it cannot be analysed; `name`
    (default: the file's own) is what messages and insights call it."""
    file = Path(path)
    name = name or file.name
    if not file.exists():
        raise PermanentFailure(f"{name}: file not found ({path})")
    if not file.is_file():
        raise PermanentFailure(f"{name}: not a regular file ({path})")
    if file.stat().st_size == 0:
        raise PermanentFailure(f"{name}: file is empty")
    with file.open("rb") as stream:
        raw = stream.read(HEAD_BYTES)
    gzipped = raw.startswith(GZIP_MAGIC)
    head = gunzip_head(file, name) if gzipped else raw
    if not head.strip():
        raise PermanentFailure(
            f"{name}: file is empty" + (" after decompression" if gzipped else "")
        )
    fmt = _format(name, head, _extension(file.name) or _extension(name))
    encoding = detect_encoding(head) if fmt in (Format.CSV, Format.JSON) else None
    return Probe(file, name, fmt, gzipped, head, encoding)


def gunzip_head(file: Path, name: str) -> bytes:
    """The first decompressed bytes of a gzip file."""
    try:
        with gzip.open(file, "rb") as stream:
            return stream.read(HEAD_BYTES)
    except EOFError as exc:
        raise PermanentFailure(f"{name}: truncated gzip stream ({exc})") from exc
    except (OSError, zlib.error) as exc:
        raise PermanentFailure(f"{name}: corrupt gzip data ({exc})") from exc


def _extension(name: str) -> str:
    """The extension that says a file's format ('.csv' of 'a.csv.gz'), '' when none does.
    The stored file's decides; an upload stored without one, the name it came under."""
    suffixes = [s.lower() for s in Path(name).suffixes if s.lower() != ".gz"]
    ext = suffixes[-1] if suffixes else ""
    return ext if ext in EXTENSIONS or ext == ".xls" else ""


def _format(name: str, head: bytes, ext: str) -> Format:
    if ext == ".xls":
        raise PermanentFailure(f"{name}: legacy .xls workbooks are not supported; save as .xlsx")
    claimed = EXTENSIONS.get(ext)
    found = _format_by_content(name, head)
    if claimed is None or claimed is found:
        return found
    if claimed in (Format.PARQUET, Format.XLSX):
        container = "Parquet file" if claimed is Format.PARQUET else ".xlsx workbook (ZIP)"
        raise PermanentFailure(f"{name}: not a {container}: its first bytes do not match")
    if found is Format.JSON and claimed is Format.CSV:
        return Format.CSV  # a CSV whose first field starts with a brace or bracket
    if found is Format.CSV:
        start = head[:24].decode("utf-8", errors="replace").strip()
        raise PermanentFailure(f"{name}: not JSON: it starts with {start!r}")
    raise PermanentFailure(f"{name}: binary content ({found.value} data), not a {ext} file")


def _format_by_content(name: str, head: bytes) -> Format:
    if head.startswith(PARQUET_MAGIC):
        return Format.PARQUET
    if head.startswith(ZIP_MAGIC):
        return Format.XLSX
    for magic, kind in OTHER_MAGIC.items():
        if head.startswith(magic):
            raise PermanentFailure(f"{name}: binary content ({kind}), not a data file")
    if looks_binary(head):
        raise PermanentFailure(f"{name}: binary content, not a text data file")
    text = head.decode(detect_encoding(head), errors="replace").lstrip("\ufeff \t\r\n")
    return Format.JSON if text[:1] in ("[", "{") else Format.CSV


def looks_binary(head: bytes) -> bool:
    """True when bytes cannot be text: NUL bytes, or many control characters."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte < 32 and byte not in b"\t\n\r\f")
    return controls > 0.05 * len(head)


def detect_encoding(head: bytes) -> str:
    """The text encoding: a BOM decides, else UTF-8 if the bytes are valid, else cp1252."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # Incremental: a multi-byte character cut at the end of the sample is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def sample_lines(probe: Probe) -> list[str]:
    """The complete lines of the decoded head (the last, possibly cut, line dropped)."""
    encoding = probe.encoding or "utf-8"
    text = probe.head.decode(encoding, errors="replace").lstrip("\ufeff")
    lines = text.splitlines()
    cut = len(probe.head) == HEAD_BYTES and not text.endswith(("\n", "\r"))
    return lines[:-1] if cut and len(lines) > 1 else lines


def last_line(file: Path) -> tuple[bytes, bool]:
    """The file's final non-empty line, and whether a line break follows it."""
    size = file.stat().st_size
    with file.open("rb") as stream:
        stream.seek(max(0, size - HEAD_BYTES))
        tail = stream.read()
    stripped = tail.rstrip(b"\r\n")
    return stripped.rsplit(b"\n", 1)[-1], len(stripped) < len(tail)


def check_json_tail(probe: Probe) -> None:
    """Raise if an uncompressed JSON file visibly stops in the middle (a cut upload)."""
    if probe.gzipped:
        return  # the gzip stream's own end marker is checked while reading
    size = probe.path.stat().st_size
    with probe.path.open("rb") as stream:
        stream.seek(max(0, size - HEAD_BYTES))
        tail = stream.read().rstrip()
    if is_json_array(probe):
        if not tail.endswith(b"]"):
            raise probe.fail("truncated JSON: the top-level array is not closed")
        return
    final = tail.rsplit(b"\n", 1)[-1]
    try:
        json.loads(final.decode(probe.encoding or "utf-8", errors="replace"))
    except ValueError as exc:
        problem = f"truncated or malformed JSON Lines: the last line is not JSON ({exc})"
        raise probe.fail(problem) from None


def is_json_array(probe: Probe) -> bool:
    """True for one JSON array of records, False for JSON Lines."""
    text = probe.head.decode(probe.encoding or "utf-8", errors="replace")
    return text.lstrip("\ufeff \t\r\n").startswith("[")
