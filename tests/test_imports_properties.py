"""Property: any statement imported twice adds nothing the second time, and a bank's two
exports of overlapping periods (cut at day boundaries, as banks export) together import
each of the statement's lines exactly once, identical lines of one day included."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.appdef import load_apps
from engine.imports import find_profile, import_file
from engine.storage import Filter

APP = """
app: bank
entities:
  line:
    fields:
      date: {type: date, required: true}
      amount: {type: money, required: true}
      currency: {type: currency, required: true, default: EUR}
      account: {type: string}
      memo: {type: text}
      import_key: {type: string, index: true}
imports:
  csv:
    entity: line
    format: csv
    columns: {date: date, memo: memo, account: account}
    amount: amount
"""

ROW = st.tuples(
    st.integers(1, 6),  # day: few, so that days hold several lines
    st.sampled_from(["10.00", "-10.00", "99.99", "0.01"]),
    st.sampled_from(["INV-1", "INV-2", "fee", ""]),  # few, so that lines repeat
)


def csv_text(account: str, rows: list[tuple[int, str, str]]) -> str:
    body = "".join(f"2026-03-{d:02},{a},{m},{account}\n" for d, a, m in rows)
    return "date,amount,memo,account\n" + body


def test_imports_are_idempotent_and_overlaps_add_only_new_lines(repository_for, tmp_path):
    folder = tmp_path / "apps"
    folder.mkdir()
    (folder / "bank.yaml").write_text(APP, encoding="utf-8")
    repo = repository_for(load_apps([folder]))
    profile = find_profile(repo, "bank.csv")
    accounts = itertools.count()

    @settings(max_examples=40, deadline=None)
    @given(rows=st.lists(ROW, max_size=25), cut=st.tuples(st.integers(0, 7), st.integers(0, 7)))
    def check(rows: list[tuple[int, str, str]], cut: tuple[int, int]) -> None:
        account = f"A{next(accounts)}"  # each example its own account: keys never meet
        rows = sorted(rows, key=lambda r: r[0])
        first_day, last_day = sorted(cut)
        early = [r for r in rows if r[0] <= last_day]  # the days up to the cut...
        late = [r for r in rows if r[0] > first_day]  # ...and a re-export from an earlier day
        path = tmp_path / f"{account}.csv"

        path.write_text(csv_text(account, early))
        first = import_file(repo, profile, path)
        again = import_file(repo, profile, path)
        assert (first.created, again.created, again.skipped) == (len(early), 0, len(early))

        path.write_text(csv_text(account, late))
        overlap = import_file(repo, profile, path)
        assert overlap.created == len(rows) - len(early)
        stored = repo.query("bank.line", [Filter("account", "eq", account)], limit=1000).rows
        found = [(r["date"].day, f"{r['amount']:.2f}", r["memo"] or "") for r in stored]
        assert sorted(found) == sorted(rows)

    check()
