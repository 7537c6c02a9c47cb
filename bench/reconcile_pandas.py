"""The plain-script baseline: what a clerk's pandas script does with the same statement.

It reads the statement and the open-items list as CSV exports, finds invoice numbers in
the memo and reference by one regular expression (`INV-000123`, `INV000123`, `inv 123`,
`#000123`; no RF references, no typo tolerance, no names), and pairs a line with the
invoices it names when their currency is the line's and their amounts add up exactly to
the line's (one invoice, or all those named).
Writes the pairs it found as CSV (bank_line, invoice).

    python bench/reconcile_pandas.py LINES.csv OPEN_INVOICES.csv PAIRS.csv
"""

from __future__ import annotations

import sys

import pandas as pd

REFERENCE = r"(?i)(?:\binv[-\s]?|#)0*(\d{1,9})\b"


def cents(amounts: pd.Series) -> pd.Series:
    return (pd.to_numeric(amounts) * 100).round().astype("int64")


def match(lines: pd.DataFrame, invoices: pd.DataFrame) -> pd.DataFrame:
    text = lines["memo"].fillna("") + " " + lines["reference"].fillna("")
    found = text.str.extractall(REFERENCE)[0].astype("int64").rename("number")
    lines = lines.assign(cents=cents(lines["amount"]))[["id", "cents", "currency"]]
    cited = lines.join(found.droplevel(1), how="inner").drop_duplicates()
    numbers = invoices["number"].str.extract(r"(\d+)$")[0].astype("int64")
    invoices = invoices.assign(number=numbers, cents=cents(invoices["amount"]))
    pairs = cited.merge(invoices, on=["number", "currency"], suffixes=("_line", "_invoice"))
    one = pairs[pairs["cents_line"] == pairs["cents_invoice"]]
    total = pairs.groupby("id_line")["cents_invoice"].transform("sum")
    every = pairs[pairs["cents_line"] == total]
    both = pd.concat([one, every])
    return both.rename(columns={"id_line": "bank_line", "id_invoice": "invoice"})[
        ["bank_line", "invoice"]
    ].drop_duplicates()


def main(argv: list[str]) -> int:
    lines_csv, invoices_csv, out = argv
    lines = pd.read_csv(lines_csv, dtype={"amount": str, "memo": str, "reference": str})
    invoices = pd.read_csv(invoices_csv, dtype={"amount": str})
    match(lines, invoices).to_csv(out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
