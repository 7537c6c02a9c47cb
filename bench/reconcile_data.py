"""Seeded receivables data for the matching benchmark, with the truth of what pays what.

Customers with realistic names (reconcile_names), a few years of invoices of which the
oldest are paid (history) and the rest open, and a bank statement whose lines pay the
open ones in the ways real payers do: in full with a reference in one of many spellings
(reconcile_refs), with a mistyped reference, with no reference at all, in part, in two
instalments, several invoices at once, short by a bank fee, in another currency, twice,
through a parent company, or not an invoice payment at all. Subscription customers are
billed the same amount every time, so customer + amount alone cannot say which invoice
a line pays. The truth is the set of (bank line, invoice) pairs each line really pays;
a duplicate payment and a line that is no invoice payment pay nothing.

Everything comes from one seed: the same sizes and seed give the same data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import reconcile_names as names
import reconcile_refs as refs

VERSION = 4  # bump when the generated data changes: cached databases are seeded again
# The statement ends a few weeks before this benchmark was written, so the newest open
# invoices are not yet due and the older ones overdue, as on a real ledger.
FIRST_ISSUE = dt.date(2024, 5, 1)
ISSUE_DAYS = 900
TODAY = FIRST_ISSUE + dt.timedelta(days=ISSUE_DAYS)  # the statement is this month's
ACCOUNT = {"EUR": "DE89370400440532013000", "USD": "DE27100777770209299700"}
CENT = Decimal("0.01")
RATES = {"USD": 1.08, "GBP": 0.86, "CHF": 0.95, "CNY": 7.80}  # units of currency per EUR
SUBSCRIPTION_FEES = (49, 99, 149, 249, 490, 1190)  # monthly fees, in the customer's currency
FEES = ("2.50", "5.00", "7.50", "10.00", "15.00", "20.00", "25.00")
# How the lines of the statement pay (share of lines, in %).
KINDS = {
    "exact": 40.0,  # one invoice in full, its reference in one of many spellings
    "typo": 8.0,  # the same, one digit of the reference wrong
    "no_ref": 9.0,  # one invoice in full, no reference: customer and amount only
    "subscription": 6.0,  # a subscription customer, reference given
    "subscription_no_ref": 1.5,  # the same without a reference: pays the oldest such invoice
    "partial": 5.0,  # part of one invoice
    "split": 2.0,  # one invoice in two instalments: two lines
    "multi": 7.0,  # 2-4 invoices of one customer in one line
    "fee": 5.0,  # one invoice less a bank fee
    "fx": 5.0,  # an invoice in USD, GBP, CHF or CNY paid in EUR
    "duplicate": 3.0,  # an invoice paid a second time: pays nothing
    "third_party": 3.0,  # paid by a parent company or a factor, reference given
    "unmatched": 5.5,  # no invoice payment at all (refunds, interest, card settlements)
}
OTHER_PAYERS = (
    "Finanzamt München", "Stripe Payments Europe Ltd", "AMAZON PAYMENTS EUROPE SCA",
    "Deutsche Bahn AG", "Allianz Versicherungs-AG", "Stadtwerke Köln GmbH", "PayPal Europe",
    "Adyen N.V.", "支付宝(中国)网络技术有限公司", "Bundesagentur für Arbeit",
)  # fmt: skip
PAYERS_FOR_OTHERS = ("Holding AG", "Group Ltd", "Beteiligungs GmbH", "集团有限公司")
FACTORS = ("Eurofactor GmbH", "Coface Finanz GmbH", "Bibby Factoring Services Ltd")


@dataclass(frozen=True)
class Sizes:
    lines: int
    open_invoices: int
    invoices: int  # in all: history (paid) + open
    customers: int = 0  # 0: one customer per 100 invoices, at least 30

    def __post_init__(self) -> None:
        if not 0 < self.open_invoices <= self.invoices:
            raise ValueError("need 0 < open invoices <= invoices")
        if self.lines <= 0:
            raise ValueError("need at least one bank line")

    @property
    def n_customers(self) -> int:
        return self.customers or max(30, self.invoices // 100)


@dataclass
class Customer:
    name: str
    currency: str
    iban: str
    iban_known: bool  # whether the customer record holds it (else only its bank lines do)
    terms: int
    subscription_fee: Decimal | None
    spelling: str  # how this customer's own bank usually prints the name
    noise: tuple[str, ...]


@dataclass(frozen=True)
class Invoice:
    number: int  # INV-<number>
    customer: int  # index into Dataset.customers
    issue: dt.date
    amount: Decimal
    currency: str


@dataclass
class Line:
    kind: str
    date: dt.date
    amount: Decimal
    currency: str
    counterparty: str
    counterparty_iban: str
    memo: str
    reference: str  # the bank's reference field: a structured RF reference, or empty
    pays: tuple[int, ...]  # invoice numbers this line really pays (the truth)
    written: tuple[str, ...] = ()  # the reference spellings used (typos marked "~")
    noise: tuple[str, ...] = ()  # the name noise steps applied to the counterparty
    repeats: int | None = None  # a duplicate: the invoice it pays a second time
    end_to_end: str = "NOTPROVIDED"  # the payer's end-to-end id


@dataclass
class Dataset:
    sizes: Sizes
    seed: int
    width: int  # digits of the invoice numbers
    customers: list[Customer]
    cust_of: array  # customer index of invoice number n at [n - 1]
    day_of: array  # issue day (offset from FIRST_ISSUE) of invoice n
    cents_of: array  # amount in cents of invoice n
    open_numbers: list[int]  # ascending
    lines: list[Line]
    rates: dict[tuple[str, dt.date], Decimal] = field(default_factory=dict)

    def invoice(self, n: int) -> Invoice:
        c = self.cust_of[n - 1]
        return Invoice(
            n,
            c,
            FIRST_ISSUE + dt.timedelta(days=self.day_of[n - 1]),
            Decimal(self.cents_of[n - 1]).scaleb(-2),
            self.customers[c].currency,
        )

    def number(self, n: int) -> str:
        return refs.invoice_number(n, self.width)

    def history(self) -> Iterator[Invoice]:
        """The paid invoices, in number order."""
        opened = set(self.open_numbers)
        for n in range(1, self.sizes.invoices + 1):
            if n not in opened:
                yield self.invoice(n)

    def truth(self) -> set[tuple[int, int]]:
        """(line index, invoice number) pairs."""
        return {(i, n) for i, line in enumerate(self.lines) for n in line.pays}


# -- customers and invoices -----------------------------------------------------------------


def iban_de(rng: random.Random) -> str:
    """A German IBAN with valid check digits (ISO 13616: mod 97 over BBAN + DE00)."""
    bban = f"{rng.randrange(10**7, 10**8)}{rng.randrange(10**9, 10**10)}"
    check = 98 - refs._numeric(bban + "DE00") % 97
    return f"DE{check:02d}{bban}"


def _currency(name: str, rng: random.Random) -> str:
    roll = rng.random()
    if names.is_han(name) or name.endswith("Co., Ltd."):
        return "CNY" if roll < 0.4 else "USD"
    if name.endswith(("Ltd", "PLC")):
        return "GBP" if roll < 0.7 else "EUR"
    return "CHF" if roll < 0.04 else ("USD" if roll < 0.07 else "EUR")


def make_customers(n: int, rng: random.Random) -> list[Customer]:
    out = []
    for name in names.unique_names(n, rng):
        foreign_bank = names.is_han(name) or name.endswith("Co., Ltd.")
        spelling, noise = names.bank_spelling(name, rng)
        fee = None
        if rng.random() < 0.1:
            fee = Decimal(rng.choice(SUBSCRIPTION_FEES)).quantize(CENT)
        out.append(
            Customer(
                name=name,
                currency=_currency(name, rng),
                iban="" if foreign_bank else iban_de(rng),
                iban_known=rng.random() < 0.6,
                terms=rng.choice((14, 30, 30, 30, 45, 60)),
                subscription_fee=fee,
                spelling=spelling,
                noise=tuple(noise),
            )
        )
    return out


def _amount_cents(rng: random.Random, customer: Customer) -> int:
    if customer.subscription_fee is not None:
        return int(customer.subscription_fee * 100)
    return max(100, int(rng.lognormvariate(6.8, 1.1) * 100))


def generate(sizes: Sizes, seed: int = 7) -> Dataset:
    rng = random.Random(seed)
    customers = make_customers(sizes.n_customers, rng)
    total = sizes.invoices
    # Big customers get more invoices: a Pareto-ish weight per customer.
    weights = [rng.paretovariate(1.5) for _ in customers]
    cust_of = array("i", rng.choices(range(len(customers)), weights, k=total))
    day_of = array("H", sorted(rng.randrange(ISSUE_DAYS) for _ in range(total)))
    cents_of = array("q", (_amount_cents(rng, customers[c]) for c in cust_of))
    recent = int(sizes.open_invoices * 0.88)
    older = sizes.open_invoices - recent
    open_set = set(range(total - recent + 1, total + 1))
    open_set.update(rng.sample(range(1, total - recent + 1), older))
    data = Dataset(
        sizes=sizes,
        seed=seed,
        width=refs.number_width(total),
        customers=customers,
        cust_of=cust_of,
        day_of=day_of,
        cents_of=cents_of,
        open_numbers=sorted(open_set),
        lines=[],
    )
    data.rates = exchange_rates(rng)
    data.lines = StatementMaker(data, rng).lines(sizes.lines)
    return data


def exchange_rates(rng: random.Random) -> dict[tuple[str, dt.date], Decimal]:
    """A daily rate per currency over the statement's period: a small random walk."""
    out = {}
    for currency, start in RATES.items():
        rate = start
        for day in range(-90, 31):
            rate *= 1 + rng.gauss(0, 0.003)
            out[currency, TODAY + dt.timedelta(days=day)] = Decimal(f"{rate:.6f}")
    return out


# -- the statement ---------------------------------------------------------------------------


class StatementMaker:
    """Builds the bank lines, taking each open invoice at most once (instalments aside)."""

    def __init__(self, data: Dataset, rng: random.Random):
        self.data = data
        self.rng = rng
        self.pool = list(data.open_numbers)
        rng.shuffle(self.pool)
        self.used: set[int] = set()
        self.by_customer: dict[int, list[int]] = {}
        for n in data.open_numbers:
            self.by_customer.setdefault(data.cust_of[n - 1], []).append(n)
        self.subscribers = [
            c for c in self.by_customer if data.customers[c].subscription_fee is not None
        ]
        self.several = [c for c, ns in self.by_customer.items() if len(ns) >= 2]
        self.foreign = [
            n for n in self.pool if data.customers[data.cust_of[n - 1]].currency != "EUR"
        ]
        self.paid_lines: list[Line] = []  # lines a duplicate may copy
        opened = set(data.open_numbers)
        self.history_numbers = [n for n in range(1, data.sizes.invoices + 1) if n not in opened]

    def lines(self, count: int) -> list[Line]:
        kinds, weights = list(KINDS), list(KINDS.values())
        out: list[Line] = []
        while len(out) < count:
            kind = self.rng.choices(kinds, weights)[0]
            made = getattr(self, f"make_{kind}")()
            out.extend(made or [self.make_unmatched()[0]])
        return out[:count]

    # -- picking invoices ---------------------------------------------------------------

    def take(self, wanted: list[int] | None = None) -> Invoice | None:
        pool = self.pool if wanted is None else wanted
        while pool:
            n = pool.pop()
            if n not in self.used:
                self.used.add(n)
                return self.data.invoice(n)
        return None

    def unused_of(self, customer: int) -> list[int]:
        return [n for n in self.by_customer.get(customer, ()) if n not in self.used]

    def customer_with(self, candidates: list[int], at_least: int) -> int | None:
        for _ in range(30):
            if not candidates:
                return None
            c = self.rng.choice(candidates)
            if len(self.unused_of(c)) >= at_least:
                return c
        return None

    # -- writing a line -----------------------------------------------------------------

    def line_date(self, invoices: list[Invoice]) -> dt.date:
        latest = max(inv.issue for inv in invoices)
        start = max(latest + dt.timedelta(days=1), TODAY - dt.timedelta(days=60))
        return start + dt.timedelta(days=self.rng.randrange(0, 20))

    def payer(self, customer: int) -> tuple[str, str, tuple[str, ...]]:
        c = self.data.customers[customer]
        if self.rng.random() < 0.8:
            name, noise = c.spelling, c.noise
        else:
            spelt, steps = names.bank_spelling(c.name, self.rng)
            name, noise = spelt, tuple(steps)
        iban = c.iban if self.rng.random() < 0.9 else ""
        return name, iban, noise

    def spelling(self) -> str:
        return self.rng.choices(refs.SPELLINGS, refs.SPELLING_WEIGHTS)[0]

    def memo(self, written: list[str], customer: int, day: dt.date) -> tuple[str, str, str]:
        """Memo, reference and end-to-end id: an RF reference often travels in the reference
        field (camt.053's structured creditor reference), the rest in the memo."""
        e2e = self.rng.choice(("NOTPROVIDED", f"E2E{self.rng.randrange(10**11):011d}"))
        if len(written) == 1 and written[0].startswith("RF") and self.rng.random() < 0.5:
            memo = self.rng.choice(refs.NO_REF_MEMOS).format(**self.fill(customer, day))
            return memo, written[0], e2e
        joined = " ".join(written) if self.rng.random() < 0.6 else ", ".join(written)
        template = self.rng.choice(refs.MEMOS) if written else self.rng.choice(refs.NO_REF_MEMOS)
        return template.format(refs=joined, **self.fill(customer, day)), "", e2e

    def fill(self, customer: int, day: dt.date) -> dict[str, str]:
        return {
            "date": f"{day:%d.%m.%Y}",
            "customer": f"{10000 + customer}",
            "e2e": f"{self.rng.randrange(10**9):09d}",
            "other": f"R-{self.rng.randrange(10**5):05d}",
        }

    def paying(
        self,
        kind: str,
        invoices: list[Invoice],
        amount: Decimal,
        *,
        with_refs: bool = True,
        written_refs: int | None = None,
        typo: bool = False,
        payer: tuple[str, str, tuple[str, ...]] | None = None,
        currency: str | None = None,
    ) -> Line:
        customer = invoices[0].customer
        day = self.line_date(invoices)
        written = []
        shown = []
        if with_refs:
            style = self.spelling()
            for inv in invoices[:written_refs]:
                if typo:
                    wrong = refs.typo_in_digits(inv.number, self.data.width, style, self.rng)
                    written.append(wrong)
                    shown.append(f"~{style}")
                else:
                    written.append(refs.spell(inv.number, self.data.width, style))
                    shown.append(style)
        memo, reference, e2e = self.memo(written, customer, day)
        name, iban, noise = payer or self.payer(customer)
        return Line(
            kind=kind,
            date=day,
            amount=amount,
            currency=currency or invoices[0].currency,
            counterparty=name,
            counterparty_iban=iban,
            memo=memo,
            reference=reference,
            end_to_end=e2e,
            pays=tuple(inv.number for inv in invoices),
            written=tuple(shown),
            noise=noise,
        )

    # -- the kinds of line --------------------------------------------------------------

    def make_exact(self) -> list[Line]:
        inv = self.take()
        if inv is None:
            return []
        line = self.paying("exact", [inv], inv.amount)
        self.paid_lines.append(line)
        return [line]

    def make_typo(self) -> list[Line]:
        inv = self.take()
        return [self.paying("typo", [inv], inv.amount, typo=True)] if inv else []

    def make_no_ref(self) -> list[Line]:
        for _ in range(10):
            inv = self.take()
            if inv is None:
                return []
            amounts = [self.data.cents_of[n - 1] for n in self.by_customer[inv.customer]]
            if amounts.count(int(inv.amount * 100)) == 1:
                return [self.paying("no_ref", [inv], inv.amount, with_refs=False)]
            self.used.discard(inv.number)  # not this one: back to the customer's list
        return []

    def make_subscription(self) -> list[Line]:
        c = self.customer_with(self.subscribers, 2)
        if c is None:
            return []
        inv = self.take(self.rng.sample(self.unused_of(c), 1))
        return [self.paying("subscription", [inv], inv.amount)] if inv else []

    def make_subscription_no_ref(self) -> list[Line]:
        c = self.customer_with(self.subscribers, 2)
        if c is None:
            return []
        oldest = self.data.invoice(self.unused_of(c)[0])
        self.used.add(oldest.number)
        return [self.paying("subscription_no_ref", [oldest], oldest.amount, with_refs=False)]

    def make_partial(self) -> list[Line]:
        inv = self.take()
        if inv is None or inv.amount < 20:
            return []
        part = (inv.amount * Decimal(self.rng.randrange(20, 81)) / 100).quantize(CENT)
        return [self.paying("partial", [inv], part)]

    def make_split(self) -> list[Line]:
        inv = self.take()
        if inv is None or inv.amount < 20:
            return []
        first = (inv.amount * Decimal(self.rng.randrange(30, 71)) / 100).quantize(CENT)
        return [
            self.paying("split", [inv], first),
            self.paying("split", [inv], inv.amount - first),
        ]

    def make_multi(self) -> list[Line]:
        c = self.customer_with(self.several, 2)
        if c is None:
            return []
        unused = self.unused_of(c)
        k = min(len(unused), self.rng.choice((2, 2, 3, 4)))
        chosen = unused[:k] if self.rng.random() < 0.6 else sorted(self.rng.sample(unused, k))
        invoices = [self.data.invoice(n) for n in chosen]
        self.used.update(chosen)
        total = sum((inv.amount for inv in invoices), Decimal(0))
        roll = self.rng.random()  # all references, all but the last, or none
        shown = None if roll < 0.6 else (k - 1 if roll < 0.8 else 0)
        return [self.paying("multi", invoices, total, with_refs=shown != 0, written_refs=shown)]

    def make_fee(self) -> list[Line]:
        inv = self.take()
        if inv is None or inv.amount < 200:
            return []
        fee = Decimal(self.rng.choice([f for f in FEES if Decimal(f) <= inv.amount / 50]))
        return [self.paying("fee", [inv], inv.amount - fee)]

    def make_fx(self) -> list[Line]:
        inv = self.take(self.foreign)
        if inv is None:
            return []
        line = self.paying("fx", [inv], inv.amount, currency="EUR")
        rate = self.data.rates[inv.currency, line.date]
        spread = Decimal(1) - Decimal(self.rng.randrange(0, 40)) / 10000
        line.amount = (inv.amount / rate * spread).quantize(CENT, ROUND_HALF_EVEN)
        return [line]

    def make_duplicate(self) -> list[Line]:
        if self.paid_lines and self.rng.random() < 0.5:
            first = self.rng.choice(self.paid_lines)
            later = first.date + dt.timedelta(days=self.rng.randrange(1, 8))
            twin = dataclasses.replace(first, kind="duplicate", pays=(), date=later)
            twin.repeats = first.pays[0]
            return [twin]
        if not self.history_numbers:
            return []
        old = self.data.invoice(self.rng.choice(self.history_numbers))
        line = self.paying("duplicate", [old], old.amount)
        line.pays, line.repeats = (), old.number
        line.date = TODAY - dt.timedelta(days=self.rng.randrange(0, 60))
        return [line]

    def make_third_party(self) -> list[Line]:
        inv = self.take()
        if inv is None:
            return []
        if self.rng.random() < 0.6:
            surname = self.rng.choice(names.SURNAMES)
            payer = f"{surname} {self.rng.choice(PAYERS_FOR_OTHERS)}"
        else:
            payer = self.rng.choice(FACTORS)
        other = (payer, iban_de(self.rng), ())
        return [self.paying("third_party", [inv], inv.amount, payer=other)]

    def make_unmatched(self) -> list[Line]:
        day = TODAY - dt.timedelta(days=self.rng.randrange(0, 60))
        memo = self.rng.choice(refs.OTHER_MEMOS).format(**self.fill(0, day))
        cents = max(1, int(self.rng.lognormvariate(5.0, 1.5) * 100))
        if self.rng.random() < 0.7:
            payer = self.rng.choice(OTHER_PAYERS)
        else:
            payer = names.company_name(self.rng)
        return [
            Line(
                kind="unmatched",
                date=day,
                amount=Decimal(cents).scaleb(-2),
                currency="EUR",
                counterparty=payer,
                counterparty_iban=iban_de(self.rng) if self.rng.random() < 0.7 else "",
                memo=memo,
                reference="",
                pays=(),
            )
        ]
