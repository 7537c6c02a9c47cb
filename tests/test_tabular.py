"""Reading CSV and XLSX rows: encodings detected or given, delimiters, lines, sheet rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

from engine.tabular import detect_encoding, encoding_name, open_table

CHINESE = "名称,城市\n上海华东贸易有限公司,上海\n北京科技发展有限公司,北京\n深圳市腾飞电子,深圳\n"
EUROPEAN = (
    "name;city\nMüller & Söhne GmbH;Köln\nBäckerei Größer;Düsseldorf\nCafé Crème SARL;Besançon\n"
)


def rows(path: Path, **kw) -> list[tuple[int, dict[str, str]]]:
    with open_table(path, **kw) as table:
        found = list(table)
        assert table.problems == []
        return found


def write(tmp_path: Path, data: bytes, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("text", "encoding", "detected"),
    [
        (CHINESE, "utf-8", "UTF-8"),
        (CHINESE, "utf-8-sig", "UTF-8"),
        (CHINESE, "gbk", "GB18030"),
        (CHINESE + "㐀䶵,𠀀\n", "gb18030", "GB18030"),  # beyond GBK: four-byte GB18030
        (EUROPEAN, "cp1252", "cp1252"),
        (EUROPEAN + "“Quotes” \u2013 €;x\n", "cp1252", "cp1252"),
        (EUROPEAN, "utf-8-sig", "UTF-8"),
    ],
)
def test_encodings_are_detected_and_read(tmp_path, text, encoding, detected):
    path = write(tmp_path, text.encode(encoding))
    with open_table(path) as table:
        assert encoding_name(table.encoding) == detected and table.detected
        found = [values for _, values in table]
    lines = text.splitlines()
    delimiter = ";" if ";" in lines[0] else ","
    header = lines[0].split(delimiter)
    assert found == [dict(zip(header, line.split(delimiter), strict=True)) for line in lines[1:]]
    assert table.header == header  # no BOM left on the first column's name


def test_latin1_bytes_that_cp1252_lacks_still_read(tmp_path):
    path = write(tmp_path, "name\nGarçon\n".encode("latin-1") + b"Ctrl \x81x\n")
    assert encoding_name(detect_encoding(path)) == "ISO-8859-1"
    with open_table(path, encoding="iso-8859-1") as table:
        assert [v["name"] for _, v in table] == ["Garçon", "Ctrl \x81x"]
        assert encoding_name(table.encoding) == "ISO-8859-1" and not table.detected


def test_a_given_encoding_wins_and_bad_bytes_name_their_line(tmp_path):
    path = write(tmp_path, "name\nMüller\n".encode("cp1252"))
    assert rows(path, encoding="cp1252") == [(2, {"name": "Müller"})]
    with open_table(path, encoding="utf-8") as table:
        assert list(table) == []
        assert [(p.line, p.message) for p in table.problems] == [
            (
                2,
                "is not UTF-8 text (as given); save the file as UTF-8, or give its encoding "
                "with --encoding",
            )
        ]
    with pytest.raises(LookupError):
        open_table(path, encoding="klingon")


def test_lines_are_those_of_the_file_and_delimiters_are_detected(tmp_path):
    path = write(tmp_path, b'\n\na\tb\tc\n1\t2\t3\n\n4\t"five\nlines"\t6\n7\t8\n')
    assert rows(path) == [
        (4, {"a": "1", "b": "2", "c": "3"}),
        (6, {"a": "4", "b": "five\nlines", "c": "6"}),
        (8, {"a": "7", "b": "8", "c": ""}),  # short rows are padded with blanks
    ]
    path = write(tmp_path, b"a,,b\r\n1,,2\r\n3,x,4\r\n5,6,7,8\r\n")
    with open_table(path) as table:
        assert table.header == ["a", "", "b"]
        assert list(table) == [(2, {"a": "1", "b": "2"}), (3, {"a": "3", "b": "4"})]
        assert [(p.line, p.message) for p in table.problems] == [
            (1, "column 2 has values but no name"),
            (4, "has 4 cells but the header has 3 columns"),
        ]


def test_broken_and_empty_files(tmp_path):
    with open_table(write(tmp_path, b'a,b\n1,"2\n')) as table:
        assert list(table) == []
        assert [p.line for p in table.problems] == [2]
        assert table.problems[0].message.startswith("is not valid CSV")
    with open_table(write(tmp_path, b"\n \n")) as table:
        assert list(table) == [] and table.header == []
        assert [p.message for p in table.problems] == [
            "is empty: expected a header line with field names"
        ]


def test_position_and_size_follow_the_bytes_read(tmp_path):
    path = write(tmp_path, b"a\n" + b"x\n" * 10)
    with open_table(path) as table:
        assert table.size == 22
        next(iter(table))
        assert 0 < table.position < table.size
        list(table)
        assert table.position == table.size


def workbook(tmp_path: Path, sheets: dict[str, list[list]]) -> Path:
    book = Workbook()
    book.remove(book.active)
    for title, data in sheets.items():
        sheet = book.create_sheet(title)
        for row in data:
            sheet.append(row)
    path = tmp_path / "book.xlsx"
    book.save(path)
    return path


def test_xlsx_rows_are_read_as_the_text_a_csv_would_hold(tmp_path):
    path = workbook(
        tmp_path,
        {
            "Notes": [["ignored"]],
            "发票": [
                [],
                ["number", "issue_date", "amount", "count", "paid", "stamp", "name"],
                ["INV-1", dt.date(2026, 3, 1), 1234.5, 3, True, dt.datetime(2026, 3, 1, 9, 30),
                 "张伟"],
                [None, None, None],
                ["INV-2", dt.datetime(2026, 3, 2), 0.1, 150000.0, False, None, None],
            ],
        },
    )  # fmt: skip
    with open_table(path, sheet="发票") as table:
        assert table.kind == "xlsx" and table.sheet == "发票" and table.header_line == 2
        found = list(table)
    assert found == [
        (3, {"number": "INV-1", "issue_date": "2026-03-01", "amount": "1234.5", "count": "3",
             "paid": "true", "stamp": "2026-03-01T09:30:00", "name": "张伟"}),
        (5, {"number": "INV-2", "issue_date": "2026-03-02", "amount": "0.1", "count": "150000",
             "paid": "false", "stamp": "", "name": ""}),
    ]  # fmt: skip
    assert rows(path) == []  # the first sheet by default: a header alone
    with open_table(path, sheet="Invoices") as table:
        assert [p.message for p in table.problems] == [
            "has no sheet 'Invoices'; its sheets are 'Notes', '发票'"
        ]
    with open_table(write(tmp_path, b"not a zip", "fake.xlsx")) as table:
        assert table.problems[0].message.startswith("is not an XLSX workbook")
