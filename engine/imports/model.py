"""What every format reader yields: statements with their balances, and their entries.

A reader knows its format and nothing of the database: it turns a file into
`Statement`s, each with the entries it books, in file order, every one keeping the
line it was read from so that any problem found later still names that line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Balance:
    amount: Decimal  # signed: negative is a debit (overdrawn) balance
    date: dt.date | None = None


@dataclass
class Entry:
    """One bank line: the bank_line fields it fills (date, amount, memo...), and its line.

    A batch booking with its transactions given yields one Entry per transaction; each
    carries the booking's reference (`booking`) and total (`booking_amount`).
    """

    values: dict[str, Any]
    line: int | None = None

    @property
    def amount(self) -> Decimal:
        return self.values["amount"]


@dataclass
class Statement:
    """One statement of an account (an MT940 message, a camt.053 <Stmt>, an OFX STMTRS, a
    CSV file). `entries` is an iterator so that a big file streams; `stated` holds
    what the file itself says (balances, totals, a record count), filled in as the file is
    read: check it once the entries are consumed."""

    entries: Iterator[Entry]
    account: str | None = None
    currency: str | None = None
    number: str | None = None  # the bank's statement number / sequence
    reference: str | None = None  # the bank's id of the statement (MT940 :20:, camt Stmt/Id)
    opening: Balance | None = None
    closing: Balance | None = None
    line: int | None = None  # where it starts in the file
    stated: dict[str, Decimal] = field(default_factory=dict)  # credits, debits, count
    ignored: int = 0  # rows read that move no money (an indicator's `ignore`)
