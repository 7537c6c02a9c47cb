"""Demo data for the receivables and collections apps (`formwork demo`).

It tells one plausible story: eight months of invoicing to forty customers in five
currencies, payments arriving on bank statements and matched to invoices, and
collectors chasing what is overdue. A seeded random generator and dates counted back
from today make it the same story on every run. Everything is written through the
Repository, in bulk and in one transaction, so it is complete or absent.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine import clock, money
from engine.appdef import AppSet
from engine.auth import create_user
from engine.demo_ledger import LedgerPlan, plan_ledger, write_ledger, write_terms
from engine.demo_statement import Story, import_and_match, plan_statement
from engine.errors import FormworkError
from engine.permissions import Principal
from engine.storage import Database, Repository
from engine.storage.daily import refresh_daily

SEED = 42
DEMO = Principal.system("demo")  # the demo loader writes on its own authority
DAYS = 240  # about eight months of history
USERS: tuple[tuple[str, str, str], ...] = (
    ("admin", "formwork-admin", "admin"),
    ("clerk", "formwork-clerk", "clerk"),
    ("collector", "formwork-collector", "collector"),
    ("viewer", "formwork-viewer", "viewer"),
)
COLLECTORS = ("collector", "collector", "collector", "anna.berger", "tom.hughes")
NEEDED = (
    "receivables.customer",
    "receivables.invoice",
    "receivables.bank_line",
    "receivables.allocation",
    "receivables.exchange_rate",
    "receivables.payment_terms",
    "receivables.payment_terms_line",
    "receivables.instalment",
    "receivables.credit_note",
    "receivables.write_off",
    "collections.collection_task",
    "collections.contact_log",
    "collections.promise_to_pay",
)

# (name, currency, country)
CUSTOMERS: tuple[tuple[str, str, str], ...] = (
    ("ACME GmbH", "EUR", "DE"),
    ("Müller Maschinenbau GmbH", "EUR", "DE"),
    ("Schneider & Söhne KG", "EUR", "DE"),
    ("Bäckerei Hoffmann e.K.", "EUR", "DE"),
    ("Nordlicht Logistik GmbH", "EUR", "DE"),
    ("Weber Elektrotechnik AG", "EUR", "DE"),
    ("Rheinland Medizintechnik GmbH", "EUR", "DE"),
    ("Fischer Verpackungen GmbH", "EUR", "DE"),
    ("Brandt Solar GmbH & Co. KG", "EUR", "DE"),
    ("Kaiser Gebäudeservice GmbH", "EUR", "DE"),
    ("Kowalski Handel GmbH", "EUR", "DE"),
    ("Van Dijk Logistiek B.V.", "EUR", "NL"),
    ("De Vries Bouw B.V.", "EUR", "NL"),
    ("Janssen Tuinbouw B.V.", "EUR", "NL"),
    ("Atelier Lefèvre SARL", "EUR", "FR"),
    ("Boulangeries Moreau SAS", "EUR", "FR"),
    ("Groupe Durand Industrie SA", "EUR", "FR"),
    ("Ferretti Componenti S.r.l.", "EUR", "IT"),
    ("Bianchi Arredamenti S.p.A.", "EUR", "IT"),
    ("Hernández Distribuciones S.L.", "EUR", "ES"),
    ("Lisboa Têxteis Lda.", "EUR", "PT"),
    ("Wiener Stahlbau GmbH", "EUR", "AT"),
    ("Tiroler Holzwerk GmbH", "EUR", "AT"),
    ("Nieminen Software Oy", "EUR", "FI"),
    ("O'Brien Engineering Ltd", "EUR", "IE"),
    ("Peeters & Claes BV", "EUR", "BE"),
    ("Redwood Analytics Inc.", "USD", "US"),
    ("Great Lakes Fabrication LLC", "USD", "US"),
    ("Harbor Point Medical Supply Inc.", "USD", "US"),
    ("Bluebonnet Foods Corp.", "USD", "US"),
    ("Cascade Outdoor Gear LLC", "USD", "US"),
    ("Harcourt & Finch Ltd", "GBP", "GB"),
    ("Pennine Textiles Ltd", "GBP", "GB"),
    ("Thames Valley Instruments plc", "GBP", "GB"),
    ("Kestrel Print Works Ltd", "GBP", "GB"),
    ("Alpenblick Treuhand AG", "CHF", "CH"),
    ("Lémanique Horlogerie SA", "CHF", "CH"),
    ("Zürcher Präzisionstechnik AG", "CHF", "CH"),
    ("Sakura Precision K.K.", "JPY", "JP"),
    ("Hoshino Trading Co., Ltd.", "JPY", "JP"),
)
SLOW_PAYERS = frozenset(
    {"Bäckerei Hoffmann e.K.", "Groupe Durand Industrie SA", "Bluebonnet Foods Corp.",
     "Kestrel Print Works Ltd", "Bianchi Arredamenti S.p.A."}
)  # fmt: skip

COUNTRY: dict[str, dict[str, Any]] = {
    "DE": {"vat": ("DE", 9), "phone": "+49", "rate": "0.19", "iban": "DE",
           "cities": ["10115 Berlin", "20095 Hamburg", "80331 München", "50667 Köln",
                      "70173 Stuttgart", "40213 Düsseldorf", "04109 Leipzig"],
           "streets": ["Hauptstraße", "Industriestraße", "Bahnhofstraße", "Gewerbepark"],
           "people": ["Katrin Vogel", "Jürgen Becker", "Sabine Wolf", "Thomas Krüger"]},
    "AT": {"vat": ("ATU", 8), "phone": "+43", "rate": "0.20", "iban": "AT",
           "cities": ["1010 Wien", "6020 Innsbruck", "4020 Linz"],
           "streets": ["Ringstraße", "Museumstraße", "Landstraße"],
           "people": ["Elisabeth Huber", "Markus Gruber"]},
    "NL": {"vat": ("NL", 9), "phone": "+31", "rate": "0.21", "iban": "NL",
           "cities": ["1012 AB Amsterdam", "3011 AD Rotterdam", "3511 AA Utrecht"],
           "streets": ["Keizersgracht", "Havenstraat", "Industrieweg"],
           "people": ["Sanne de Boer", "Pieter Bakker"]},
    "FR": {"vat": ("FR", 11), "phone": "+33", "rate": "0.20", "iban": "FR",
           "cities": ["75002 Paris", "69002 Lyon", "31000 Toulouse"],
           "streets": ["rue de la République", "avenue Jean Jaurès", "boulevard Voltaire"],
           "people": ["Camille Laurent", "Nicolas Petit"]},
    "IT": {"vat": ("IT", 11), "phone": "+39", "rate": "0.22", "iban": "IT",
           "cities": ["20121 Milano", "40121 Bologna", "10121 Torino"],
           "streets": ["Via Roma", "Via Garibaldi", "Corso Italia"],
           "people": ["Giulia Romano", "Marco Colombo"]},
    "ES": {"vat": ("ES", 9), "phone": "+34", "rate": "0.21", "iban": "ES",
           "cities": ["28013 Madrid", "08002 Barcelona"], "streets": ["Calle Mayor", "Gran Vía"],
           "people": ["Lucía García", "Javier Martín"]},
    "PT": {"vat": ("PT", 9), "phone": "+351", "rate": "0.23", "iban": "PT",
           "cities": ["1100-148 Lisboa", "4000-322 Porto"], "streets": ["Rua Augusta"],
           "people": ["Inês Ferreira"]},
    "FI": {"vat": ("FI", 8), "phone": "+358", "rate": "0.24", "iban": "FI",
           "cities": ["00100 Helsinki"], "streets": ["Mannerheimintie"],
           "people": ["Aino Virtanen"]},
    "IE": {"vat": ("IE", 8), "phone": "+353", "rate": "0.23", "iban": "IE",
           "cities": ["Dublin 2", "Cork T12"], "streets": ["Harcourt Street"],
           "people": ["Siobhan Murphy"]},
    "BE": {"vat": ("BE0", 9), "phone": "+32", "rate": "0.21", "iban": "BE",
           "cities": ["2000 Antwerpen", "1000 Brussel"], "streets": ["Meir", "Nieuwstraat"],
           "people": ["Lotte Peeters"]},
    "US": {"vat": None, "phone": "+1", "rate": "0", "iban": None,
           "cities": ["Chicago, IL 60601", "Austin, TX 78701", "Portland, OR 97204",
                      "Boston, MA 02110"],
           "streets": ["Main Street", "Commerce Drive", "Harbor Boulevard"],
           "people": ["Jennifer Miller", "David Johnson", "Emily Davis"]},
    "GB": {"vat": ("GB", 9), "phone": "+44", "rate": "0.20", "iban": "GB",
           "cities": ["London EC2A 4NE", "Leeds LS1 4DY", "Manchester M1 1AD"],
           "streets": ["High Street", "Station Road", "Mill Lane"],
           "people": ["Oliver Bennett", "Charlotte Hughes", "Harry Wilson"]},
    "CH": {"vat": ("CHE", 9), "phone": "+41", "rate": "0.081", "iban": "CH",
           "cities": ["8001 Zürich", "1204 Genève", "3011 Bern"],
           "streets": ["Bahnhofstrasse", "Rue du Rhône"],
           "people": ["Lukas Meier", "Claire Favre"]},
    "JP": {"vat": None, "phone": "+81", "rate": "0.10", "iban": None,
           "cities": ["Tokyo 100-0005", "Osaka 530-0001"], "streets": ["Marunouchi 1-chome"],
           "people": ["Yuki Tanaka", "Haruto Sato"]},
}  # fmt: skip

# Unit prices by currency; an invoice is one to three lines of quantity x price plus VAT.
PRICES = {
    "EUR": ["49.00", "85.50", "120.00", "245.00", "380.00", "640.00", "1250.00", "2900.00"],
    "USD": ["59.00", "95.00", "150.00", "275.00", "450.00", "725.00", "1400.00", "3200.00"],
    "GBP": ["42.00", "75.00", "110.00", "210.00", "330.00", "560.00", "1100.00", "2500.00"],
    "CHF": ["55.00", "90.00", "135.00", "260.00", "420.00", "700.00", "1350.00", "3100.00"],
    "JPY": ["5800", "12500", "18000", "36000", "54000", "98000", "180000", "420000"],
}
WORK = [
    "Consulting services", "Spare parts", "Maintenance contract", "Software licences",
    "Freight and handling", "Installation and commissioning", "Support hours",
    "Packaging materials", "Training workshop", "Calibration service", "Replacement parts",
    "Annual service plan",
]  # fmt: skip
OUR_ACCOUNTS = {
    "EUR": "DE89370400440532013000",
    "USD": "US-CHASE-000412839",
    "GBP": "GB29NWBK60161331926819",
    "CHF": "CH9300762011623852957",
    "JPY": "JP-MUFG-0012345",
}
BASE_RATES = {"USD": "1.0850", "GBP": "0.8450", "CHF": "0.9420", "JPY": "162.50"}
RULE = "invoice number in the memo, same amount"
BIG = {"EUR": "8000", "USD": "9000", "GBP": "7000", "CHF": "8000", "JPY": "1200000"}
CREDIT_LIMITS = {"EUR": "25000", "USD": "30000", "GBP": "20000", "CHF": "25000", "JPY": "3000000"}


@dataclass
class Plan:
    """The demo records, values only; refs are indexes into the lists until written."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    bank_lines: list[dict[str, Any]] = field(default_factory=list)
    allocations: list[dict[str, Any]] = field(default_factory=list)  # bank_line/invoice: index
    rates: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)  # customer/invoice: index
    contacts: list[dict[str, Any]] = field(default_factory=list)  # customer/task: index
    promises: list[dict[str, Any]] = field(default_factory=list)  # customer/invoice: index
    ledger: LedgerPlan = field(default_factory=LedgerPlan)  # schedules, credits, write-offs
    statement: list[dict[str, Any]] = field(default_factory=list)  # imported, then matched


def check_apps(appset: AppSet) -> None:
    """The demo writes the receivables and collections apps' entities; say so if they are gone."""
    missing = []
    for qualname in NEEDED:
        try:
            appset.entity(qualname)
        except FormworkError:
            missing.append(qualname)
    if missing:
        raise FormworkError(
            "the demo needs the receivables and collections apps; missing: " + ", ".join(missing)
        )


LEGAL_FORMS = frozenset(
    {"gmbh", "ag", "kg", "co", "ek", "e", "k", "bv", "b", "v", "sarl", "sas", "sa", "srl", "s",
     "r", "l", "p", "a", "spa", "lda", "oy", "ltd", "plc", "inc", "llc", "corp"}
)  # fmt: skip


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = "".join(c if c.isalnum() else " " for c in plain).split()
    kept = [w for w in words if w not in LEGAL_FORMS] or words
    return "-".join(kept[:3])


def _iban(rng: random.Random, country: str) -> str:
    """A random IBAN with a correct check digit (so validators accept it)."""
    length = {"DE": 18, "AT": 16, "NL": 14, "FR": 23, "IT": 23, "ES": 20, "PT": 21, "FI": 14,
              "IE": 18, "BE": 12, "GB": 18, "CH": 17}[country]  # fmt: skip
    bban = "".join(str(rng.randint(0, 9)) for _ in range(length))
    if country in ("NL", "GB", "IE"):
        bban = {"NL": "INGB", "GB": "NWBK", "IE": "AIBK"}[country] + bban[4:]
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def _vat(rng: random.Random, country: str) -> str | None:
    spec = COUNTRY[country]["vat"]
    if spec is None:
        return None
    prefix, n = spec
    digits = "".join(str(rng.randint(0, 9)) for _ in range(n))
    if country == "CH":
        return f"CHE-{digits[:3]}.{digits[3:6]}.{digits[6:]} MWST"
    if country == "NL":
        return f"NL{digits}B01"
    return prefix + digits


def _amount(rng: random.Random, currency: str, country: str) -> Decimal:
    net = sum(
        (Decimal(rng.choice(PRICES[currency][: rng.randint(3, 8)])) * rng.randint(1, 12))
        for _ in range(rng.randint(1, 3))
    )
    gross = net * (1 + Decimal(COUNTRY[country]["rate"]))
    return money.round_money(gross, currency)


def _part(rng: random.Random, amount: Decimal, currency: str) -> Decimal:
    share = Decimal(rng.choice([25, 30, 40, 50, 50, 60, 70])) / 100
    return money.round_money(amount * share, currency)


def build_plan(today: dt.date, seed: int = SEED) -> Plan:
    """The demo records for `today`: pure data, the same for the same day and seed."""
    rng = random.Random(seed)
    plan = Plan()
    start = today - dt.timedelta(days=DAYS)
    ibans: list[str | None] = []
    for name, currency, country in CUSTOMERS:
        info = COUNTRY[country]
        terms = 30 if country in ("DE", "AT", "NL", "BE") else rng.choice([14, 30, 45, 60])
        plan.customers.append(
            {
                "name": name,
                "email": f"accounts@{_slug(name)}.example",
                "phone": f"{info['phone']} {rng.randint(20, 89)} {rng.randint(1000000, 9999999)}",
                "currency": currency,
                "payment_terms_days": terms,
                "credit_status": "watch" if name in SLOW_PAYERS else "ok",
                "vat_number": _vat(rng, country),
                "address": f"{rng.choice(info['streets'])} {rng.randint(1, 180)}\n"
                f"{rng.choice(info['cities'])}",
            }
        )
        ibans.append(_iban(rng, country) if info["iban"] else None)
    # Invoices: big customers buy more often.
    weights = [rng.choice([1, 1, 2, 3, 5]) for _ in CUSTOMERS]
    drafts = []
    for _ in range(400):
        c = rng.choices(range(len(CUSTOMERS)), weights)[0]
        issued = start + dt.timedelta(days=rng.randint(0, DAYS - 2))
        while issued.weekday() >= 5:
            issued -= dt.timedelta(days=1)
        drafts.append((issued, c))
    drafts.sort()
    numbers: dict[int, int] = {}
    for issued, c in drafts:
        name, currency, country = CUSTOMERS[c]
        numbers[issued.year] = numbers.get(issued.year, 0) + 1
        terms = plan.customers[c]["payment_terms_days"]
        plan.invoices.append(
            {
                "number": f"INV-{issued.year}-{numbers[issued.year]:04d}",
                "customer": c,
                "issue_date": issued,
                "due_date": issued + dt.timedelta(days=terms),
                "currency": currency,
                "amount": _amount(rng, currency, country),
                "description": f"{rng.choice(WORK)}, {issued:%B %Y}"
                + (f" (PO {rng.randint(4500000000, 4509999999)})" if rng.random() < 0.4 else ""),
                "disputed": rng.random() < 0.03,
            }
        )
    paid = _payments(rng, plan, today, ibans)
    _credit(rng, plan, paid)
    _fee_lines(plan, today)
    plan.bank_lines.sort(key=lambda b: b["date"])  # statements run in date order
    _rates(rng, plan, today)
    plan_ledger(plan, today, seed, OUR_ACCOUNTS, paid)
    plan.statement = plan_statement(rng, plan, [c[0] for c in CUSTOMERS], ibans, today)
    _collections(rng, plan, today, paid)
    return plan


def _payments(
    rng: random.Random, plan: Plan, today: dt.date, ibans: list[str | None]
) -> dict[int, Decimal]:
    """Bank lines and allocations for paid and partly paid invoices; returns paid per invoice."""
    paid: dict[int, Decimal] = {}
    last_line: dict[int, dict[str, Any]] = {}
    for i, inv in enumerate(plan.invoices):
        c = inv["customer"]
        age = (today - inv["due_date"]).days
        slow = CUSTOMERS[c][0] in SLOW_PAYERS
        p_paid, p_part = (0.72, 0.08) if age > 45 else (0.45, 0.1) if age > 0 else (0.12, 0.03)
        if slow:
            p_paid /= 2
        roll = rng.random()
        if inv["disputed"] or roll >= p_paid + p_part:
            continue
        amount = inv["amount"] if roll < p_paid else _part(rng, inv["amount"], inv["currency"])
        on = inv["due_date"] + dt.timedelta(days=rng.randint(-12, 30 if slow else 14))
        on = max(on, inv["issue_date"] + dt.timedelta(days=2))
        if on >= today or amount <= 0:
            continue
        while on.weekday() >= 5:
            on += dt.timedelta(days=1)
        if on >= today:
            continue
        customer = CUSTOMERS[c][0]
        line = last_line.get(c)
        if (
            line is not None
            and amount == inv["amount"]
            and 0 <= (on - line["date"]).days <= 7
            and line["_invoices"] < 3
            and rng.random() < 0.3
        ):
            line["amount"] += amount  # one transfer settling several invoices
            line["memo"] = line["memo"].replace(f" {customer}", "") + f" {inv['number']}"
            line["_invoices"] += 1
        else:
            line = {
                "date": on,
                "amount": amount,
                "currency": inv["currency"],
                "counterparty": customer.upper() if rng.random() < 0.3 else customer,
                "counterparty_iban": ibans[c],
                "memo": _memo(rng, inv["number"], customer),
                "reference": f"E2E{rng.randint(10**11, 10**12 - 1)}",
                "account": OUR_ACCOUNTS[inv["currency"]],
                "_invoices": 1,
            }
            plan.bank_lines.append(line)
            last_line[c] = line
        by_rule = inv["number"] in line["memo"] and amount == inv["amount"] and rng.random() < 0.8
        plan.allocations.append(
            {
                "bank_line": line,  # the line itself: ids exist only once it is written
                "invoice": i,
                "amount": amount,
                "currency": inv["currency"],
                "matched_by": "rule" if by_rule else "manual",
                "rule": RULE if by_rule else None,
                "difference": None if amount == inv["amount"] else inv["amount"] - amount,
                "difference_class": "none",
            }
        )
        paid[i] = amount
    return paid


def _credit(rng: random.Random, plan: Plan, paid: dict[int, Decimal]) -> None:
    """Credit limits for about half the customers; a status that fits their open balance."""
    balance = [Decimal(0)] * len(plan.customers)
    for i, inv in enumerate(plan.invoices):
        balance[inv["customer"]] += inv["amount"] - paid.get(i, Decimal(0))
    for c, customer in enumerate(plan.customers):
        if rng.random() < 0.5:
            continue
        limit = Decimal(CREDIT_LIMITS[customer["currency"]]) * rng.choice([1, 2, 4])
        customer["credit_limit"] = limit
        if balance[c] > limit * Decimal("1.5"):
            customer["credit_status"] = "hold"
        elif balance[c] > limit:
            customer["credit_status"] = "watch"


def _memo(rng: random.Random, number: str, customer: str) -> str:
    return rng.choice(
        [
            f"{number} {customer}",
            f"{number} {customer}",
            f"Invoice {number}",
            f"RE {number} Kd {rng.randint(10000, 99999)}",
            f"{number}",
            "payment",
            f"Payment {customer}",
        ]
    )


def _fee_lines(plan: Plan, today: dt.date) -> None:
    """The bank's monthly charges (money out, which no rule matches)."""
    month = today.replace(day=1)
    for _ in range(8):
        month = (month - dt.timedelta(days=1)).replace(day=1)
        end = (month + dt.timedelta(days=31)).replace(day=1) - dt.timedelta(days=1)
        for currency, fee, bank in (
            ("EUR", "-12.50", "Commerzbank AG"),
            ("USD", "-25.00", "JPMorgan Chase Bank"),
        ):
            plan.bank_lines.append(
                {
                    "date": end,
                    "amount": Decimal(fee),
                    "currency": currency,
                    "counterparty": bank,
                    "memo": f"Account maintenance fee {month:%m/%Y}",
                    "account": OUR_ACCOUNTS[currency],
                }
            )


def _rates(rng: random.Random, plan: Plan, today: dt.date) -> None:
    """Weekly EUR reference rates, a gentle random walk from plausible values."""
    day = today - dt.timedelta(days=DAYS)
    day -= dt.timedelta(days=day.weekday())  # Mondays
    rates = {c: Decimal(r) for c, r in BASE_RATES.items()}
    while day <= today:
        for currency, rate in rates.items():
            step = Decimal(rng.randint(-60, 60)) / 10000
            places = Decimal("0.01") if currency == "JPY" else Decimal("0.0001")
            rates[currency] = (rate * (1 + step)).quantize(places)
            plan.rates.append({"date": day, "currency": currency, "rate": rates[currency]})
        day += dt.timedelta(days=7)


def _collections(rng: random.Random, plan: Plan, today: dt.date, paid: dict[int, Decimal]) -> None:
    """Tasks for overdue invoices, the calls and e-mails made, and the promises won."""
    for i, inv in enumerate(plan.invoices):
        overdue = (today - inv["due_date"]).days
        open_amount = inv["amount"] - paid.get(i, Decimal(0))
        if overdue <= 3:
            continue
        if open_amount <= 0:
            if overdue > 20 and rng.random() < 0.15:
                _kept(rng, plan, i, _task(rng, plan, today, i, overdue, "done"))
            continue
        status = rng.choice(["open", "open", "in_progress"]) if overdue > 10 else "open"
        task = _task(rng, plan, today, i, overdue, status)
        if status == "in_progress" or (overdue > 30 and rng.random() < 0.6):
            _contacts(rng, plan, today, task, i, open_amount)


def _task(rng: random.Random, plan: Plan, today: dt.date, i: int, overdue: int, status: str) -> int:
    inv = plan.invoices[i]
    customer = CUSTOMERS[inv["customer"]][0]
    level = 0 if overdue <= 14 else 1 if overdue <= 30 else 2 if overdue <= 60 else 3
    big = inv["amount"] > Decimal(BIG[inv["currency"]])
    priority = ["normal", "normal", "high", "urgent"][level]
    if big and priority == "normal":
        priority = "high"
    plan.tasks.append(
        {
            "title": f"Chase {inv['number']} ({customer})",
            "customer": inv["customer"],
            "invoice": i,
            "assigned_to": rng.choice(COLLECTORS),
            "due_on": today + dt.timedelta(days=rng.randint(-4, 7)),
            "priority": priority,
            "status": status,
            "dunning_level": level,
            "notes": "Disputed: the customer questions the quantities delivered."
            if inv["disputed"]
            else None,
        }
    )
    return len(plan.tasks) - 1


def _kept(rng: random.Random, plan: Plan, i: int, task: int) -> None:
    """An invoice chased, promised and then paid: the happy ending of a collection task."""
    inv = plan.invoices[i]
    day = inv["due_date"] + dt.timedelta(days=rng.randint(5, 12))
    person = rng.choice(COUNTRY[CUSTOMERS[inv["customer"]][2]]["people"])
    plan.contacts.append(
        {
            "customer": inv["customer"],
            "task": task,
            "contacted_at": dt.datetime.combine(day, dt.time(10, 30), dt.UTC),
            "channel": "phone",
            "outcome": "promised",
            "contact_person": person,
            "notes": NOTES["promised"],
        }
    )
    plan.promises.append(
        {
            "customer": inv["customer"],
            "invoice": i,
            "amount": inv["amount"],
            "currency": inv["currency"],
            "promised_date": day + dt.timedelta(days=7),
            "status": "kept",
            "note": f"Promised by {person} on {day:%d %b %Y}.",
        }
    )


NOTES = {
    "reached": "Spoke to accounts payable; invoice is in their approval run.",
    "no_answer": "No answer; will try again tomorrow morning.",
    "left_message": "Left a voicemail asking for a payment date.",
    "promised": "Promised to pay; confirmed by e-mail.",
    "disputed": "Customer says the delivery was incomplete; asked for the delivery note.",
    "refused": "Refuses to pay before the credit note for the returned goods.",
}


def _contacts(
    rng: random.Random, plan: Plan, today: dt.date, task: int, i: int, open_amount: Decimal
) -> None:
    inv = plan.invoices[i]
    country = CUSTOMERS[inv["customer"]][2]
    calls = rng.randint(1, 3)
    latest = today - dt.timedelta(days=rng.randint(1, 10))
    earliest = inv["due_date"] + dt.timedelta(days=3)
    days = sorted(
        {max(latest - dt.timedelta(days=n * rng.randint(3, 7)), earliest) for n in range(calls)}
    )
    for n, day in enumerate(days):
        at = dt.datetime.combine(day, dt.time(rng.randint(8, 16), rng.choice([0, 15, 30, 45])))
        last = n == len(days) - 1
        outcome = (
            rng.choice(["promised", "promised", "reached", "disputed", "refused"])
            if last
            else rng.choice(["no_answer", "left_message", "reached"])
        )
        plan.contacts.append(
            {
                "customer": inv["customer"],
                "task": task,
                "contacted_at": at.replace(tzinfo=dt.UTC),
                "channel": "phone"
                if outcome in ("no_answer", "left_message")
                else rng.choice(["phone", "phone", "email", "letter"]),
                "outcome": outcome,
                "contact_person": rng.choice(COUNTRY[country]["people"]),
                "notes": NOTES[outcome],
            }
        )
        if outcome == "promised":
            promised = day + dt.timedelta(days=rng.randint(3, 14))
            plan.promises.append(
                {
                    "customer": inv["customer"],
                    "invoice": i,
                    "amount": open_amount,
                    "currency": inv["currency"],
                    "promised_date": promised,
                    "status": "broken" if promised < today else "open",
                    "note": f"Promised by {plan.contacts[-1]['contact_person']} on {day:%d %b %Y}.",
                }
            )


# -- writing ----------------------------------------------------------------------------------


def has_data(db: Database) -> bool:
    return db.repository(DEMO).count("receivables.customer", cap=1) > 0


def counts(db: Database) -> dict[str, int]:
    repo = db.repository(DEMO)
    return {qualname: repo.count(qualname) for qualname in NEEDED}


def add_users(db: Database) -> list[tuple[str, str | None, str]]:
    """The demo's log-ins: (name, password, role) of each, the password None for a user that
    existed already. An existing user is never changed: someone may have set a real password."""
    return [
        (name, password if create_user(db, name, password, role) else None, role)
        for name, password, role in USERS
    ]


def load(db: Database, today: dt.date | None = None, seed: int = SEED) -> bool:
    """Fill an empty database with the demo records; False (and nothing written) if it has data."""
    return build(db, today, seed) is not None


def build(db: Database, today: dt.date | None = None, seed: int = SEED) -> Story | None:
    """The history in one transaction, then the clerk's morning: the latest statement
    imported through its profile and matched by the rules. None if the database has data."""
    check_apps(db.appset)
    if has_data(db):
        refresh_daily(db)  # kept from another day: what fell due since is overdue now
        return None
    day = today or clock.today()
    plan = build_plan(day, seed)
    repo = db.repository(DEMO)
    with repo.transaction():
        write(repo, plan)
    return import_and_match(db, DEMO, plan.statement, day)


def write(repo: Repository, plan: Plan) -> None:
    customers = repo.bulk_create("receivables.customer", plan.customers)
    terms = write_terms(repo, plan.ledger)
    invoices = repo.bulk_create(
        "receivables.invoice",
        [
            {**v, "customer": customers[v["customer"]],
             "payment_terms": terms[v["payment_terms"]] if "payment_terms" in v else None}
            for v in plan.invoices
        ],
    )  # fmt: skip
    lines = repo.bulk_create(
        "receivables.bank_line",
        [{k: v for k, v in line.items() if not k.startswith("_")} for line in plan.bank_lines],
    )
    line_id = {id(line): new for line, new in zip(plan.bank_lines, lines, strict=True)}
    repo.bulk_create(
        "receivables.allocation",
        [
            {**a, "bank_line": line_id[id(a["bank_line"])], "invoice": invoices[a["invoice"]]}
            for a in plan.allocations
        ],
    )
    write_ledger(repo, plan.ledger, customers, invoices)
    repo.bulk_create("receivables.exchange_rate", plan.rates)
    tasks = repo.bulk_create(
        "collections.collection_task",
        [
            {**t, "customer": customers[t["customer"]], "invoice": invoices[t["invoice"]]}
            for t in plan.tasks
        ],
    )
    repo.bulk_create(
        "collections.contact_log",
        [
            {**c, "customer": customers[c["customer"]], "task": tasks[c["task"]]}
            for c in plan.contacts
        ],
    )
    repo.bulk_create(
        "collections.promise_to_pay",
        [
            {**p, "customer": customers[p["customer"]], "invoice": invoices[p["invoice"]]}
            for p in plan.promises
        ],
    )
