"""Load one input file into a DuckDB table, or fail with one line that names the file.

DuckDB reads CSV/TSV, JSON, JSON Lines and Parquet itself (gzip included), streaming and
spilling under its memory limit. We add what its sniffer does not do: decimal commas and
thousands separators, encodings other than UTF-8, .xlsx, and checks for cut-off files.
"""

from __future__ import annotations

import csv
import gzip
import re
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.insights import sniff
from runner.insights.excel import xlsx_to_csv
from runner.insights.sniff import Format, Probe
from runner.insights.sql import ident, literal, options, run, scalar

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

DELIMITERS = (",", ";", "\t", "|")
NULL_STRINGS = ["", "NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "#N/A"]
# Words that mean "nothing" in a text column ("None": no airbags) but a gap where every other
# value is a number or a date: missing only in such a column.
NULL_WORDS = ("None", "none")
RETYPES = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP")
UTF8 = ("utf-8", "utf-8-sig")

COMMA_DECIMAL = re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d+),\d+$")
DOT_DECIMAL = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)\.\d+$")
DOT_GROUPS = re.compile(r"^[-+]?\d{1,3}(\.\d{3})+(,\d+)?$")
DOTTED = re.compile(r"^[-+]?\d+(\.\d+)+$")
COMMA_GROUPS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")


def load(
    con: DuckDBPyConnection, path: str, table: str, workdir: Path, name: str | None = None
) -> dict[str, Any]:
    """Create `table` from the file at path; return how it was read (format, dialect...).
    Messages and `file` call it `name` (the name it was uploaded under), else its own."""
    found = sniff.probe(path, name)
    source: dict[str, Any] = {"file": found.name, "format": found.fmt.value}
    if found.gzipped:
        source["compression"] = "gzip"
    with input_errors(found):
        if found.fmt is Format.PARQUET:
            file = _plain(found, workdir)
            run(con, f"CREATE TABLE {table} AS SELECT * FROM read_parquet({literal(file)})")
        elif found.fmt is Format.XLSX:
            converted = workdir / f"{table}.csv"
            sheets = xlsx_to_csv(_plain(found, workdir), found.name, converted)
            source["sheets"] = {"read": list(sheets.read), "workbook": list(sheets.workbook)}
            read = _load_csv(con, _converted(found, converted), converted, table)
            source |= {k: v for k, v in read.items() if k == "names_alike"}
        elif found.fmt is Format.JSON:
            source |= _load_json(con, found, _plain(found, workdir), table)
        else:
            source |= _load_csv(con, found, _plain(found, workdir), table)
        rows = int(scalar(con, f"SELECT count(*) FROM {table}"))
    if rows == 0:
        raise found.fail("no data rows (only a header or an empty array)")
    return source


def _plain(found: Probe, workdir: Path) -> Path:
    """A path DuckDB can read: gzip it cannot stream, and other encodings, go to UTF-8 copies."""
    target = workdir / f"{found.path.name}.plain"
    if found.encoding not in (None, *UTF8):
        opener = gzip.open if found.gzipped else open
        with (
            opener(found.path, "rt", encoding=found.encoding, newline="") as src,
            target.open("w", encoding="utf-8", newline="") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
        return target
    if found.gzipped and found.fmt in (Format.PARQUET, Format.XLSX):
        with gzip.open(found.path, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return target
    return found.path


def _converted(found: Probe, file: Path) -> Probe:
    """The probe of an intermediate UTF-8 CSV made from found."""
    with file.open("rb") as stream:
        head = stream.read(sniff.HEAD_BYTES)
    return Probe(file, found.name, Format.CSV, False, head, "utf-8")


def _gzip_option(found: Probe, file: Path) -> str:
    return "gzip" if found.gzipped and file == found.path else "uncompressed"


def _load_csv(con: DuckDBPyConnection, found: Probe, file: Path, table: str) -> dict[str, Any]:
    compression = _gzip_option(found, file)
    lines = sniff.sample_lines(found)
    delimiter = guess_delimiter(lines)
    if compression == "uncompressed":
        width = len(next(csv.reader(lines[:1], delimiter=delimiter), []))
        _check_csv_tail(found, file, delimiter, width)
    header, width = _sniff_csv(con, found, file, compression, delimiter, lines)
    decimal, thousands = detect_number_style(lines, delimiter)
    settings: dict[str, Any] = {
        "delim": delimiter,
        "header": header,
        "compression": compression,
        "nullstr": NULL_STRINGS,
        "decimal_separator": decimal,
        # No BOOLEAN: DuckDB reads Yes/No as false/true, and a segment must be named as the
        # file writes it ("Yes", not "true").
        "auto_type_candidates": TYPE_CANDIDATES,
    }
    if thousands:
        settings["thousands"] = thousands
    as_text = _create_from_csv(con, table, file, settings, width)
    retyped = _null_words_as_gaps(con, table)
    as_text = [c for c in as_text if c not in retyped]
    names = next(csv.reader(lines[:1], delimiter=delimiter), []) if header else []
    alike = _drop_names_alike(con, table, names)
    return {
        **({"names_alike": alike} if alike else {}),
        "encoding": found.encoding,
        "delimiter": delimiter,
        "header": header,
        "decimal_separator": decimal,
        "thousands_separator": thousands,
        "read_as_text": as_text,
    }


def _drop_names_alike(con: DuckDBPyConnection, table: str, names: list[str]) -> list[list[Any]]:
    """Drop the columns DuckDB renamed because the header repeats a name but for case ("IOD",
    "iod" -> "iod_1"): a name the file does not have is never printed. Returns each dropped
    column's [file name, the name it is like, its filled rows]."""
    if not names:
        return []
    spelled = Counter(n.lower() for n in names)
    loaded = [str(r[0]) for r in run(con, f"DESCRIBE {table}")]
    dropped: list[list[Any]] = []
    for column in loaded:
        base = re.fullmatch(r"(.+)_\d+", column)
        if column in names or base is None or spelled[base.group(1).lower()] < 2:
            continue
        alike = [n for n in names if n.lower() == base.group(1).lower()]
        kept = next((n for n in alike if n in loaded), alike[0])
        filled = int(scalar(con, f"SELECT count({ident(column)}) FROM {table}"))
        dropped.append([next((n for n in alike if n != kept), kept), kept, filled])
        run(con, f"ALTER TABLE {table} DROP COLUMN {ident(column)}")
    return dropped


TYPE_CANDIDATES = ["BIGINT", "DOUBLE", "TIME", "DATE", "TIMESTAMP", "VARCHAR"]


def guess_delimiter(lines: list[str]) -> str:
    """The candidate that splits the sample lines into the most consistent number of fields.

    DuckDB's sniffer is not asked: on a file whose rows disagree it silently falls back to
    one column, which would hide a malformed file.
    """

    def consistency(delimiter: str) -> tuple[float, int]:
        widths = [len(row) for row in csv.reader(lines[:200], delimiter=delimiter)]
        if not widths:
            return 0.0, 0
        width, hits = Counter(widths).most_common(1)[0]
        return (hits / len(widths), width) if width > 1 else (0.0, 0)

    return max(DELIMITERS, key=consistency)


def _sniff_csv(
    con: DuckDBPyConnection,
    found: Probe,
    file: Path,
    compression: str,
    delimiter: str,
    lines: list[str],
) -> tuple[bool, int]:
    """DuckDB's guess of the header and quoting for our delimiter: (has header, fields)."""
    import duckdb

    settings = options({"delim": delimiter, "compression": compression, "nullstr": NULL_STRINGS})
    query = f"SELECT HasHeader, Columns FROM sniff_csv({literal(file)}, {settings})"
    try:
        header, columns = run(con, query)[0]
    except duckdb.InvalidInputException:
        raise found.fail(_first_ragged_row(lines, delimiter)) from None
    return bool(header), len(columns)


def _first_ragged_row(lines: list[str], delimiter: str) -> str:
    """Where the sample's rows stop agreeing on their number of fields."""
    rows = csv.reader(lines, delimiter=delimiter)
    widths = [(len(row), rows.line_num) for row in rows]
    width = Counter(w for w, _ in widths).most_common(1)[0][0] if widths else 0
    for found, line in widths:
        if found != width:
            return f"malformed CSV at line {line}: expected {width} fields, found {found}"
    return "malformed CSV: no delimiter gives every row the same number of fields"


def _create_from_csv(
    con: DuckDBPyConnection, table: str, file: Path, settings: Mapping[str, Any], width: int
) -> list[str]:
    """Read the CSV into table; a column whose values defy the sniffed type is read as text."""
    import duckdb

    as_text: dict[str, str] = {}
    for _ in range(width + 1):
        read = f"read_csv({literal(file)}, {options({**settings, 'types': as_text})})"
        try:
            run(con, f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {read}")
            return sorted(as_text)
        except duckdb.ConversionException as exc:
            column = _failed_column(str(exc))
            if column is None or column in as_text:
                raise
            as_text[column] = "VARCHAR"
    raise AssertionError("unreachable: every column can be read as text")


def _null_words_as_gaps(con: DuckDBPyConnection, table: str) -> list[str]:
    """Retype each text column whose values other than a null word (None) are all numbers or
    all dates: there the word is a gap. Where other words sit beside it, it is a category."""
    words = ", ".join(literal(w) for w in NULL_WORDS)
    described = run(con, f"SELECT column_name, column_type FROM (DESCRIBE {table})")
    text = [str(name) for name, kind in described if kind == "VARCHAR"]
    if not text:
        return []
    cols = [ident(name) for name in text]
    holes = run(
        con,
        "SELECT "
        + ", ".join(f"count(*) FILTER (trim({c}) IN ({words}))" for c in cols)
        + f" FROM {table}",
    )[0]
    retyped = []
    for name, col, hole in zip(text, cols, holes, strict=True):
        if not hole:
            continue
        value = f"CASE WHEN trim({col}) IN ({words}) THEN NULL ELSE {col} END"
        filled = scalar(con, f"SELECT count({value}) FROM {table}")
        for kind in RETYPES if filled else ():
            fits = scalar(con, f"SELECT count(TRY_CAST({value} AS {kind})) FROM {table}")
            if fits == filled:
                run(con, f"ALTER TABLE {table} ALTER {col} TYPE {kind} USING {value}")
                retyped.append(name)
                break
    return retyped


def _failed_column(message: str) -> str | None:
    match = re.search(r'converting column "(.+?)"', message)
    return match.group(1) if match else None


def _check_csv_tail(found: Probe, file: Path, delimiter: str, width: int) -> None:
    """Raise when the last line is cut: an open quote, or missing fields and no line break."""
    line, has_break = sniff.last_line(file)
    text = line.decode("utf-8", errors="replace")
    try:
        fields = next(csv.reader([text], delimiter=delimiter, strict=True), [])
    except csv.Error as exc:
        if "unexpected end of data" not in str(exc):
            return  # DuckDB's reader gives the precise complaint with a line number
        raise found.fail("truncated CSV: the last line ends inside a quoted field") from None
    if len(fields) < width and not has_break:
        problem = f"the last line has {len(fields)} of {width} fields and no line break"
        raise found.fail(f"truncated CSV: {problem}")


def detect_number_style(lines: list[str], delimiter: str) -> tuple[str, str | None]:
    """The decimal separator and thousands separator used by the numbers in sample lines.

    A dot followed by exactly three digits is a thousands separator, not a decimal point,
    when the file separates fields with ';' (the European habit) and no number has a dot
    followed by another count of digits: "35.361" is thirty-five thousand there.
    """
    rows = csv.reader(lines[1:500], delimiter=delimiter)
    fields = [field.strip() for row in rows for field in row]
    commas = sum(1 for f in fields if COMMA_DECIMAL.match(f))
    dots = sum(1 for f in fields if DOT_DECIMAL.match(f))
    if delimiter != ",":
        dot_groups = any(DOT_GROUPS.match(f) for f in fields)
        if commas > dots or (dot_groups and _dots_group_thousands(fields)):
            return ",", "." if dot_groups else None
    return ".", "," if any(COMMA_GROUPS.match(f) for f in fields) else None


def _dots_group_thousands(fields: list[str]) -> bool:
    """True when every dotted number reads as thousands groups (1.234 or 1.234.567)."""
    dotted = [f for f in fields if DOTTED.match(f)]
    return bool(dotted) and all(DOT_GROUPS.match(f) for f in dotted)


def _load_json(con: DuckDBPyConnection, found: Probe, file: Path, table: str) -> dict[str, Any]:
    layout = "array" if sniff.is_json_array(found) else "newline_delimited"
    if file == found.path:
        sniff.check_json_tail(found)
    settings = {"format": layout, "compression": _gzip_option(found, file)}
    read = f"read_json({literal(file)}, {options(settings)})"
    run(con, f"CREATE TABLE {table} AS SELECT * FROM {read}")
    return {"encoding": found.encoding, "layout": layout}


@contextmanager
def input_errors(found: Probe) -> Iterator[None]:
    """Turn DuckDB's complaints about the input into PermanentFailure naming the file."""
    import duckdb

    try:
        yield
    except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
        raise found.fail(describe(str(exc), found)) from exc
    except duckdb.IOException as exc:
        # Other I/O errors (a full spill disk, say) are the machine's, and worth a retry.
        if re.search(r"gzip|compress|magic|corrupt|not a", str(exc), re.IGNORECASE) is None:
            raise
        raise found.fail(describe(str(exc), found)) from exc


def describe(message: str, found: Probe) -> str:
    """One readable line out of DuckDB's multi-line error text."""
    message = message.replace(str(found.path), found.name)
    line = re.search(r"CSV Error on Line: (\d+)", message)
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    if line and fields:
        return (
            f"malformed CSV at line {line.group(1)}: "
            f"expected {fields.group(1)} fields, found {fields.group(2)}"
        )
    if re.search(r"end of gzip", message, re.IGNORECASE):
        return "truncated gzip stream"
    if "No magic bytes found at end of file" in message:
        return "truncated Parquet file: the footer is missing"
    json_error = re.search(r"Malformed JSON in file .*?, (at byte .*)", message)
    if json_error:
        return f"malformed JSON {json_error.group(1).strip()}"
    first = message.strip().splitlines()[0] if message.strip() else "unreadable"
    first = re.sub(r"^[A-Za-z ]*Error: ", "", first)
    return f"malformed {found.fmt.value.upper()}: {first[:240]}"
