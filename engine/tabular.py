"""Rows of a CSV or XLSX file, a line at a time, in whatever encoding the exporter chose.

Record imports and statement imports both take files that people export from other
systems: Chinese ones write GBK/GB18030, European ones cp1252 or ISO-8859-1, newer
ones UTF-8 with or without a BOM, and spreadsheets arrive as XLSX. `open_table`
hides that: it detects (or is told) the encoding, finds the header, and then yields
`(line, {column: text})` one row at a time, so a million-line file costs one row of
memory. Each row keeps the line the user sees in an editor (for XLSX, the sheet's row
number), because every error message must point there.

Detection is deterministic where it can be: a UTF-8 BOM, or a file that is valid
UTF-8 throughout (checked in one fast pass), is UTF-8. Otherwise the lines that hold
non-ASCII bytes are sampled and charset-normalizer chooses between GB18030 (a superset
of GBK) and cp1252; a plain "try GB18030, else cp1252" cascade is wrong because most
Latin-1 text is also valid GB18030 ("Müller" decodes as "M黮ler").
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.i18n import _

FORMATS = ("csv", "xlsx")
SAMPLE_BYTES = 256 * 1024  # of non-ASCII lines: plenty for charset-normalizer to decide
DELIMITERS = (",", ";", "\t")
NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "gb18030": "GB18030", "gbk": "GBK"}
NAMES |= {"cp1252": "cp1252", "iso8859-1": "ISO-8859-1", "gb2312": "GB2312"}


@dataclass(frozen=True)
class Problem:
    """Something wrong with the file itself (not with a value), at a line or sheet row."""

    line: int | None
    message: str


def encoding_name(encoding: str) -> str:
    """The name people know an encoding by ("GB18030", "UTF-8"), from any codec alias."""
    codec = codecs.lookup(encoding).name
    return NAMES.get(codec, codec)


def detect_encoding(path: str | Path) -> str:
    """The codec to read a CSV file with: UTF-8 when it is valid UTF-8, else GB18030 or cp1252."""
    with open(path, "rb") as f:
        if f.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while block := f.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
        f.seek(0)
        sample = bytearray()
        for line in f:
            if not line.isascii():
                sample += line
                if len(sample) >= SAMPLE_BYTES:
                    break
    from charset_normalizer import from_bytes

    best = from_bytes(bytes(sample), cp_isolation=["gb18030", "cp1252"]).best()
    return best.encoding if best is not None else "latin-1"


@dataclass
class Table:
    """An open CSV or XLSX file: its header, then its rows as (line, {column: text}).

    Rows come without their unnamed columns; cells past the header are a Problem.
    `problems` fills while reading (the file's own faults, each with its line); reading
    stops at a fault that leaves the rest unreadable (broken quoting, bad bytes).
    `position` / `size` tell how far reading has got, for a progress bar.
    """

    path: Path
    kind: str
    encoding: str | None = None  # the codec of a CSV file
    detected: bool = False  # True when the encoding was detected, not given
    sheet: str | None = None  # the sheet of an XLSX file
    header: list[str] = field(default_factory=list)
    header_line: int = 1
    skip: int = 0  # lines (sheet rows) before the header, kept in `preamble` as cells
    has_header: bool = True  # False: the first row is data; columns are named "1", "2"...
    delimiter: str | None = None  # of a CSV file: given, else sniffed from the header line
    preamble: list[tuple[int, list[str]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    size: int = 0  # bytes of a CSV file, rows of a sheet (0 when unknown)
    position: int = 0
    _rows: Iterator[tuple[int, list[Any]]] = field(default_factory=lambda: iter(()))
    _closers: list[Any] = field(default_factory=list)

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for closer in self._closers:
            closer()
        self._closers.clear()

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        header = self.header
        width = len(header)
        named = [i for i, h in enumerate(header) if h]
        unnamed = [i for i, h in enumerate(header) if not h]
        reported: set[int] = set()
        for line, cells in self._rows:
            if not "".join(cells).strip():
                continue  # blank lines and empty rows are skipped, but still counted
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                message = _(
                    "has %(cells)s cells but the header has %(columns)s columns",
                    cells=len(cells),
                    columns=width,
                )
                self.problems.append(Problem(line, message))
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            for i in unnamed:
                if i not in reported and cells[i].strip():
                    reported.add(i)
                    message = _("column %(position)s has values but no name", position=i + 1)
                    self.problems.append(Problem(self.header_line, message))
            if unnamed:
                yield line, {header[i]: cells[i] for i in named}
            else:
                yield line, dict(zip(header, cells, strict=False))

    def _start(self, rows: Iterator[tuple[int, list[Any]]]) -> None:
        """Take the first row that is not blank as the header (or as data, without one)."""
        for line, cells in rows:
            if self.skip and line <= self.skip:
                self.preamble.append((line, cells))
                continue
            if any(c.strip() for c in cells):
                if not self.has_header:
                    self.header = [str(i) for i in range(1, len(cells) + 1)]
                    self.header_line = line
                    self._rows = itertools.chain([(line, cells)], rows)
                    return
                self.header, self.header_line = [c.strip() for c in cells], line
                self._rows = rows
                return
        if not self.problems:
            message = _("is empty: expected a header line with field names")
            self.problems.append(Problem(1, message))


def kind_of(path: str | Path) -> str | None:
    """csv or xlsx by the file's name, else None."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"csv": "csv", "tsv": "csv", "txt": "csv", "xlsx": "xlsx", "xlsm": "xlsx"}.get(suffix)


def open_table(
    path: str | Path,
    kind: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    *,
    skip: int = 0,
    header: bool = True,
    delimiter: str | None = None,
) -> Table:
    """Open a CSV (`encoding` given or detected) or XLSX (`sheet`, else the first) file.

    `skip` lines (sheet rows) come before the header: a bank's title and account lines,
    kept as `preamble`. Without a `header` the columns are named by position ("1"...).
    Raises LookupError for an unknown encoding name; every fault of the file itself is
    in `problems`. Use as a context manager, or call close().
    """
    path = Path(path)
    kind = kind or kind_of(path) or "csv"
    if kind == "xlsx":
        table = Table(path, "xlsx", skip=skip, has_header=header)
        return _open_xlsx(table, sheet)
    if kind != "csv":
        raise ValueError(f"unknown table format {kind!r} (use {' or '.join(FORMATS)})")
    if encoding is not None:
        codecs.lookup(encoding)  # LookupError for a name that is no encoding
    table = Table(path, "csv", encoding or detect_encoding(path), detected=encoding is None,
                  skip=skip, has_header=header, delimiter=delimiter)  # fmt: skip
    raw = open(path, "rb")  # noqa: SIM115 - closed by Table.close
    table._closers.append(raw.close)
    table.size = path.stat().st_size
    table._start(_csv_rows(table, raw))
    return table


def _decoded_lines(table: Table, raw: IO[bytes]) -> Iterator[str]:
    """The file's lines as text, stopping with a Problem at the first line that does not decode.

    Lines split at b"\\n" are whole characters in every supported encoding (no byte of a
    multi-byte UTF-8 or GB18030 character is 0x0A), so the bad line is exact.
    """
    encoding = table.encoding or "utf-8"
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        encoding = "utf-8"  # the BOM is taken off the first line below
    first = True
    for number, line in enumerate(raw, start=1):
        table.position += len(line)
        try:
            text = line.decode(encoding)
        except UnicodeDecodeError:
            name = encoding_name(table.encoding or encoding)
            if table.detected:
                message = _(
                    "is not %(encoding)s text (detected from the file); save the file as "
                    "UTF-8, or give its encoding with --encoding",
                    encoding=name,
                )
            else:
                message = _(
                    "is not %(encoding)s text (as given); save the file as UTF-8, or give its "
                    "encoding with --encoding",
                    encoding=name,
                )
            table.problems.append(Problem(number, message))
            return
        if first:
            text, first = text.removeprefix("\ufeff"), False
        yield text


def _csv_rows(table: Table, raw: IO[bytes]) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, cells) for every row of a CSV file, comma, semicolon or tab."""
    lines = _decoded_lines(table, raw)
    skipped = list(itertools.islice(lines, table.skip))
    leading: list[str] = []  # blank lines before the header, given back to the reader
    for text in lines:
        leading.append(text)
        if text.strip():
            break
    counts = [leading[-1].count(d) for d in DELIMITERS] if leading else [0]
    delimiter = table.delimiter or (DELIMITERS[counts.index(max(counts))] if max(counts) else ",")
    for number, text in enumerate(skipped, start=1):
        yield number, next(csv.reader([text], delimiter=delimiter), [])
    reader = csv.reader(itertools.chain(leading, lines), delimiter=delimiter, strict=True)
    try:
        while True:
            line = reader.line_num + 1 + len(skipped)
            try:
                cells = next(reader)
            except StopIteration:
                return
            if cells:
                yield line, cells
    except csv.Error as exc:
        message = _("is not valid CSV: %(error)s", error=str(exc))
        table.problems.append(Problem(reader.line_num + len(skipped), message))


def _open_xlsx(table: Table, sheet: str | None) -> Table:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    path = table.path
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        message = _("is not an XLSX workbook (%(error)s)", error=str(exc))
        table.problems.append(Problem(None, message))
        return table
    table._closers.append(book.close)
    if sheet is None:
        ws = book.worksheets[0]
    elif sheet in book.sheetnames:
        ws = book[sheet]
    else:
        names = ", ".join(repr(n) for n in book.sheetnames)
        message = _("has no sheet %(sheet)r; its sheets are %(sheets)s", sheet=sheet, sheets=names)
        table.problems.append(Problem(None, message))
        return table
    table.sheet = ws.title
    table.size = ws.max_row or 0

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            table.position = number
            yield number, [_cell_text(v) for v in values]

    table._start(rows())
    return table


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a CSV export of it would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time(0):
            return value.date().isoformat()  # a date cell: Excel has no separate date type
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
