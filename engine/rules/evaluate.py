"""The rules applied to one line: candidates, amounts, a decision and why.

Rules are tried in order; the first that finds acceptable candidates decides. Its
candidates come from the run's indexes (engine.rules.state): the invoices the line's
references name, or the open invoices of the customer it comes from. An exact single
invoice beats any combination; several invoices are the smallest set of the oldest whose
total fits (engine.rules.subsets); a partial payment is spread in reference or age order.
Two alternatives that score alike are never applied: they become one suggestion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from engine.appdef.matching import Matching, MatchRule, Reference
from engine.expr import ExpressionError
from engine.i18n import N_
from engine.rules.customers import CustomerHit
from engine.rules.outcome import Alternative, Attempt, Decision, Share
from engine.rules.outcome import Reason as Message
from engine.rules.outcome import reason as _
from engine.rules.state import ZERO, OpenItem, RunState
from engine.rules.subsets import MAX_CANDIDATES, smallest_fitting_set
from engine.storage import fastexpr

HUNDRED = Decimal(100)
ALIKE = Decimal(1)  # alternatives within this many points are equally good
MAX_ALTERNATIVES = 5
_CUSTOMER_REASONS = {
    "iban": N_("customer recognised by IBAN %(what)s"),
    "name": N_("customer recognised by name %(what)s"),
    "alias": N_("customer recognised by alias %(what)s"),
    "mapping": N_("customer recognised by the mapping %(what)s"),
}


def line_open(line: Mapping[str, Any]) -> Decimal:
    value = line.get("unallocated_amount")
    return Decimal(value if value is not None else line.get("amount") or 0)


def customer_reason(hit: CustomerHit) -> Message:
    if hit.method == "fuzzy":
        return _(
            "customer recognised by a similar name %(what)s at %(score)s %%",
            what=hit.matched,
            score=hit.score,
        )
    return _(_CUSTOMER_REASONS[hit.method].msgid, what=hit.matched)


class Evaluator:
    """Decides lines one by one against the state of one run."""

    def __init__(
        self,
        matching: Matching,
        state: RunState,
        source_fields: Iterable[str],
        explaining: bool = False,
    ):
        self.matching, self.state = matching, state
        self.explaining = explaining  # say how close the nearest customer name came (slow)
        self.source_fields = set(source_fields)
        self._keys_of: int | None = None
        self._key_cache: dict[tuple[int, str], list[str]] = {}
        self._found_cache: dict[tuple[Any, ...], Any] = {}

    # -- one line -----------------------------------------------------------------------------

    def decide(self, line: Mapping[str, Any]) -> Decision:
        decision = Decision(line["id"])
        remaining = line_open(line)
        if remaining <= ZERO:
            decision.kind = "skipped"
            return decision
        rejected = self.state.rejected.get(line["id"], set())
        for rule in self.matching.rules:
            attempt, alternatives = self.try_rule(rule, line, remaining, decision)
            kept = [a for a in alternatives if a.invoices not in rejected]
            if alternatives and not kept:
                attempt = Attempt(rule.name, False, _("a person rejected this match before"))
            decision.attempts.append(attempt)
            if not kept:
                continue
            # Best first; among equals, candidates no earlier line of this run was offered
            # (the oldest of a subscriber's invoices goes to the first of its payments).
            reserved = self.state.reserved
            kept.sort(key=lambda a: (-a.score, bool(a.invoices & reserved)))
            decision.rule, decision.alternatives = rule.name, kept[:MAX_ALTERNATIVES]
            ambiguous = len(kept) > 1 and kept[0].score - kept[1].score < ALIKE
            decision.write_off_reason = rule.reason
            dangling = bool(decision.facts.get("dangling")) and not rule.references
            if rule.then == "auto" and not ambiguous and not dangling:
                decision.kind = "auto"
            else:
                decision.kind = "suggest"
                reserved |= kept[0].invoices
                if ambiguous:
                    reason = _(
                        "%(count)s candidates score alike: a person decides", count=len(kept)
                    )
                elif dangling:
                    reason = _(
                        "the line names an invoice that is not open (paid twice?): a person decides"
                    )
                else:
                    reason = _("this rule only suggests")
                decision.attempts[-1] = Attempt(rule.name, True, reason)
            return decision
        return decision

    def apply(self, decision: Decision) -> None:
        """Take an automatic decision's amounts off the open invoices of this run."""
        best = decision.best
        if decision.kind != "auto" or best is None:
            return
        for share in best.shares:
            self.state.invoices.settle(
                self.state.invoices.items[share.invoice], share.amount + share.write_off
            )

    # -- one rule -----------------------------------------------------------------------------

    def try_rule(
        self, rule: MatchRule, line: Mapping[str, Any], remaining: Decimal, decision: Decision
    ) -> tuple[Attempt, list[Alternative]]:
        def miss(reason: Message) -> tuple[Attempt, list[Alternative]]:
            return Attempt(rule.name, False, reason), []

        if rule.when is not None and not self._true(rule.when, {"source": line}):
            return miss(
                _("its condition %(condition)s is false for this line", condition=rule.when.source)
            )
        hits: list[CustomerHit] | None = None
        needs_customer = bool(rule.customer) or (not rule.references)
        if needs_customer:
            hits = self._customers(rule, line)
            decision.facts["customer_found"] = bool(hits) or decision.facts.get("customer_found")
            if hits:
                decision.facts.setdefault("customer", hits[0].customer)
            if not hits:
                return miss(self._no_customer(line))
        if rule.references:
            found, keys = self._referenced(rule, line)
            if not keys:
                fields = ", ".join(dict.fromkeys(f for r in rule.references for f in r.in_fields))
                return miss(_("no reference found in %(fields)s", fields=fields))
            decision.facts.setdefault("references", keys)
            if not found:
                # A number or RF reference naming nothing open: paid already, or mistyped.
                if any(r.extractor.kind != "whole" for _k, r in keys):
                    decision.facts["dangling"] = True
                settled = self.state.invoices.settled(keys)
                if settled is not None:
                    decision.facts["already_paid"] = settled
                return miss(
                    _(
                        "the reference %(reference)s names no open invoice",
                        reference=", ".join(k for k, _r in keys),
                    )
                )
            if hits is not None:
                customers = {h.customer for h in hits}
                mine = [f for f in found if f[0].customer in customers]
                if not mine:
                    decision.facts["other_customer"] = True
                    return miss(_("the referenced invoice belongs to another customer"))
                found = mine
            alternatives, why = self._by_reference(rule, line, remaining, found, hits)
        else:
            assert hits is not None
            alternatives, why = [], None
            for hit in hits:
                more, why_not = self._by_customer(rule, line, remaining, hit)
                alternatives += more
                why = why or why_not
        if rule.accept is not None and alternatives:
            alternatives = [a for a in alternatives if self._accepted(rule, line, a)]
            if not alternatives:
                return miss(
                    _(
                        "its condition %(condition)s refused every candidate",
                        condition=rule.accept.source,
                    )
                )
        if not alternatives:
            return miss(why or _("no open invoice fits"))
        return Attempt(rule.name, True, _("matched")), alternatives

    def _true(self, expr: Any, names: dict[str, Any]) -> bool:
        try:
            with fastexpr.exact():
                return bool(fastexpr.evaluate(expr, names))
        except ExpressionError:
            return False

    def _accepted(self, rule: MatchRule, line: Mapping[str, Any], alt: Alternative) -> bool:
        items = self.state.invoices.items
        return all(
            self._true(rule.accept, {"source": line, "target": items[s.invoice].row})
            for s in alt.shares
        )

    # -- customers ----------------------------------------------------------------------------

    def _customers(self, rule: MatchRule, line: Mapping[str, Any]) -> list[CustomerHit]:
        index = self.state.customers
        if index is None:
            return []
        allowed = set(rule.customer) or {"iban", "name", "alias", "mapping", "fuzzy"}
        hits = [h for h in index.find(line) if h.method in allowed]
        if not hits:
            return []
        best = max(h.score for h in hits)
        return [h for h in hits if best - h.score < ALIKE * 2]

    def _no_customer(self, line: Mapping[str, Any]) -> Message:
        index = self.state.customers
        finding = self.matching.customers
        name = line.get(finding.counterparty) if finding and finding.counterparty else None
        closest = index.closest(line) if index is not None and self.explaining else None
        if closest and finding:
            return _(
                "no customer recognised from %(name)s; the closest, %(closest)s at "
                "%(score)s %%, is below %(threshold)s %%",
                name=name or "-",
                closest=closest[0],
                score=closest[1],
                threshold=finding.fuzzy_threshold,
            )
        return _("no customer recognised from %(name)s", name=name or "-")

    # -- references ---------------------------------------------------------------------------

    def _keys(self, ref: Reference, field: str, line: Mapping[str, Any]) -> list[str]:
        """The references `ref` reads in a field of the line: read once per line, though
        several rules look for them."""
        if self._keys_of != line["id"]:
            self._keys_of, self._key_cache, self._found_cache = line["id"], {}, {}
        key = (id(ref.extractor), field)
        found = self._key_cache.get(key)
        if found is None:
            found = self._key_cache[key] = ref.extractor.keys(line.get(field))
        return found

    def _referenced(
        self, rule: MatchRule, line: Mapping[str, Any]
    ) -> tuple[list[tuple[OpenItem, bool, Message]], list[tuple[str, Reference]]]:
        """The open invoices the line's references name (in order), and the keys read;
        worked out once per line for rules that read the same references."""
        if self._keys_of != line["id"]:
            self._keys_of, self._key_cache, self._found_cache = line["id"], {}, {}
        cache_key = (tuple(id(r) for r in rule.references), rule.typos)
        cached = self._found_cache.get(cache_key)
        if cached is None:
            cached = self._found_cache[cache_key] = self._read_references(rule, line)
        return cached

    def _read_references(
        self, rule: MatchRule, line: Mapping[str, Any]
    ) -> tuple[list[tuple[OpenItem, bool, Message]], list[tuple[str, Reference]]]:
        found: list[tuple[OpenItem, bool, Message]] = []
        keys: list[tuple[str, Reference]] = []
        seen: set[int] = set()
        for ref in rule.references:
            for field in ref.in_fields:
                for key in self._keys(ref, field, line):
                    keys.append((key, ref))
                    for item, typo in self.state.invoices.referenced(ref, key, rule.typos):
                        if item.id in seen:
                            continue
                        seen.add(item.id)
                        number = item.row.get(ref.target_field)
                        reason = (
                            _(
                                "reference %(key)s in %(field)s read as %(number)s (one typo)",
                                key=key,
                                field=field,
                                number=number,
                            )
                            if typo
                            else _(
                                "reference %(number)s found in %(field)s",
                                number=number,
                                field=field,
                            )
                        )
                        found.append((item, typo, reason))
        return found, keys

    def _by_reference(
        self,
        rule: MatchRule,
        line: Mapping[str, Any],
        remaining: Decimal,
        found: list[tuple[OpenItem, bool, Message]],
        hits: list[CustomerHit] | None,
    ) -> tuple[list[Alternative], Message | None]:
        customer_parts = self._customer_parts(hits, found[0][0].customer)
        singles = []
        why: Message | None = None
        for item, typo, reason in found:
            paid = self._converted(line, remaining, item)
            if paid is None:
                why = self._no_rate(line, item)
                continue
            shares, amount_reason, amount_score = self._fit(rule, line, remaining, [item], paid)
            if shares is None:
                why = why or amount_reason
                continue
            scores = [Decimal(90) if typo else HUNDRED, amount_score, *customer_parts[1]]
            singles.append(
                self._alternative(
                    shares, scores, [reason, *customer_parts[0], amount_reason], item.customer
                )
            )
        if singles:
            return singles, None
        items = [f[0] for f in found]
        currency = {i.currency for i in items}
        if len(items) > 1 and len(currency) == 1:
            paid = self._converted(line, remaining, items[0])
            if paid is not None:
                shares, amount_reason, amount_score = self._fit(rule, line, remaining, items, paid)
                if shares is not None:
                    reasons = [
                        *(f[2] for f in found),
                        *customer_parts[0],
                        amount_reason,
                        _("pays %(count)s invoices together", count=len(items)),
                    ]
                    scores = [HUNDRED, amount_score, *customer_parts[1]]
                    return [self._alternative(shares, scores, reasons, items[0].customer)], None
        if rule.several and len(currency) == 1 and len({i.customer for i in items}) == 1:
            filled = self._fill_up(rule, line, remaining, found, customer_parts)
            if filled is not None:
                return [filled], None
        if rule.partial == "referenced" and len(currency) == 1:
            paid = self._converted(line, remaining, items[0])
            if paid is not None and paid < sum((i.open for i in items), ZERO):
                shares = self._spread(line, remaining, items, paid)
                reasons = [
                    *(f[2] for f in found),
                    *customer_parts[0],
                    _("a partial payment of %(paid)s: the rest stays open", paid=paid),
                ]
                return [
                    self._alternative(
                        shares, [Decimal(85), *customer_parts[1]], reasons, items[0].customer
                    )
                ], None
        return [], why

    def _fill_up(
        self,
        rule: MatchRule,
        line: Mapping[str, Any],
        remaining: Decimal,
        found: list[tuple[OpenItem, bool, Message]],
        customer_parts: tuple[list[Message], list[Decimal]],
    ) -> Alternative | None:
        """The referenced invoices and the fewest oldest other ones of their customer that
        make up the rest of the payment (a memo naming all but one of the invoices paid)."""
        items = [f[0] for f in found]
        paid = self._converted(line, remaining, items[0])
        customer = items[0].customer
        if paid is None or customer is None:
            return None
        rest = paid - sum((i.open for i in items), ZERO)
        if rest <= ZERO:
            return None
        ids = {i.id for i in items}
        oldest = self.state.invoices.oldest(customer, items[0].currency, MAX_CANDIDATES + len(ids))
        others = [i for i in oldest if i.id not in ids][:MAX_CANDIDATES]
        result = smallest_fitting_set(
            [i.open for i in others],
            rest - rule.over.allowance(paid),
            rest + rule.under.allowance(paid),
        )
        if result.picked is None or result.other is not None:
            return None
        picked = [*items, *(others[i] for i in result.picked)]
        shares, amount_reason, amount_score = self._fit(rule, line, remaining, picked, paid)
        if shares is None:
            return None
        reasons = [
            *(f[2] for f in found),
            *customer_parts[0],
            amount_reason,
            _(
                "with %(count)s more of the customer's oldest open invoices that make up the rest",
                count=len(result.picked),
            ),
        ]
        return self._alternative(
            shares, [Decimal(95), amount_score, *customer_parts[1]], reasons, customer
        )

    def _customer_parts(
        self, hits: list[CustomerHit] | None, customer: int | None
    ) -> tuple[list[Message], list[Decimal]]:
        hit = next((h for h in hits or () if h.customer == customer), None)
        if hit is None:
            return [], []
        return [customer_reason(hit)], [hit.score]

    # -- customer and amount ------------------------------------------------------------------

    def _by_customer(
        self, rule: MatchRule, line: Mapping[str, Any], remaining: Decimal, hit: CustomerHit
    ) -> tuple[list[Alternative], Message | None]:
        invoices = self.state.invoices
        currencies = invoices.currencies(hit.customer)
        if not currencies:
            return [], _("the customer has no open invoice")
        who = customer_reason(hit)
        currency = line.get("currency")
        target_currency = currency if currency in currencies else currencies[0]
        sample = invoices.oldest(hit.customer, target_currency, MAX_CANDIDATES)
        if not sample:
            return [], _("the customer has no open invoice")
        paid = self._converted(line, remaining, sample[0])
        if paid is None:
            return [], self._no_rate(line, sample[0])
        singles = invoices.amount_between(
            hit.customer,
            target_currency,
            paid - rule.over.allowance(paid) * 2,
            paid + rule.under.allowance(paid) * 2,
        )
        singles = [i for i in singles if self._fits(rule, paid, i.open)]
        alternatives = []
        why: Message | None = None
        for item in singles:
            shares, reason, score = self._fit(rule, line, remaining, [item], paid)
            if shares is not None:
                alternatives.append(
                    self._alternative(shares, [hit.score, score], [who, reason], hit.customer)
                )
            else:
                why = reason
        if alternatives:
            return alternatives, None
        same = sample
        if rule.several and len(same) > 1:
            found = smallest_fitting_set(
                [i.open for i in same],
                paid - rule.over.allowance(paid),
                paid + rule.under.allowance(paid),
            )
            sets = [found.picked, found.other] if found.other else [found.picked]
            found_alternatives = []
            for chosen in sets:
                if chosen is None or len(chosen) < 2:
                    continue
                picked = [same[i] for i in chosen]
                shares, reason, score = self._fit(rule, line, remaining, picked, paid)
                if shares is not None:
                    says = _(
                        "pays the %(count)s oldest open invoices that add up to it",
                        count=len(picked),
                    )
                    found_alternatives.append(
                        self._alternative(
                            shares, [hit.score, score - 3], [who, reason, says], hit.customer
                        )
                    )
            if found_alternatives:
                return found_alternatives, None  # two sets: scored alike, so only proposed
            if found.exhausted:
                why = _("too many combinations of open invoices to try")
        if rule.partial == "oldest" and invoices.total_exceeds(hit.customer, target_currency, paid):
            shares = self._spread(line, remaining, _covering(same, paid), paid)
            reasons = [who, _("a partial payment of %(paid)s: the rest stays open", paid=paid)]
            return [
                self._alternative(shares, [hit.score, Decimal(80)], reasons, hit.customer)
            ], None
        return [], why or _("the amount %(paid)s fits no open invoice of the customer", paid=paid)

    # -- amounts ------------------------------------------------------------------------------

    def _converted(
        self, line: Mapping[str, Any], remaining: Decimal, item: OpenItem
    ) -> Decimal | None:
        source = line.get("currency") or item.currency
        target = item.currency or source
        if source == target or source is None or target is None:
            return remaining
        return self.state.rates.convert(remaining, source, target, line["date"])

    def _no_rate(self, line: Mapping[str, Any], item: OpenItem) -> Message:
        return _(
            "no exchange rate from %(source)s to %(target)s on %(date)s",
            source=line.get("currency"),
            target=item.currency,
            date=line.get("date"),
        )

    def _fits(self, rule: MatchRule, paid: Decimal, expected: Decimal) -> bool:
        difference = paid - expected
        if difference < 0:
            return -difference <= rule.under.allowance(expected)
        return difference <= rule.over.allowance(expected)

    def _fit(
        self,
        rule: MatchRule,
        line: Mapping[str, Any],
        remaining: Decimal,
        items: list[OpenItem],
        paid: Decimal,
    ) -> tuple[list[Share] | None, Message, Decimal]:
        """Shares settling `items` with `paid` (in their currency), when the rule's tolerance
        allows the difference; with the reason and the amount's score."""
        expected = sum((i.open for i in items), ZERO)
        difference = paid - expected
        if not self._fits(rule, paid, expected):
            side = rule.under if difference < 0 else rule.over
            return (
                None,
                _(
                    "the amount %(paid)s differs from the open %(expected)s by "
                    "%(difference)s, beyond the tolerance of %(tolerance)s",
                    paid=paid,
                    expected=expected,
                    difference=difference,
                    tolerance=side.describe(),
                ),
                ZERO,
            )
        shares = self._spread(line, remaining, items, paid)
        if difference < 0 and rule.write_off:
            last = shares[-1]
            shares[-1] = Share(
                last.invoice,
                last.amount,
                last.source_amount,
                -difference,
                last.exchange_rate,
                last.exchange_difference,
                difference,
            )
        elif difference:
            last = shares[-1]
            shares[-1] = Share(
                last.invoice,
                last.amount,
                last.source_amount,
                ZERO,
                last.exchange_rate,
                last.exchange_difference,
                difference,
            )
        if not difference:
            return shares, _("the amount equals the open amount"), HUNDRED
        side = rule.under if difference < 0 else rule.over
        if difference < 0 and rule.write_off:
            reason = _(
                "%(difference)s under the open amount, within %(tolerance)s: written off "
                "as %(reason)s",
                difference=-difference,
                tolerance=side.describe(),
                reason=rule.reason,
            )
        elif difference < 0:
            reason = _(
                "%(difference)s under the open amount, within %(tolerance)s: left open",
                difference=-difference,
                tolerance=side.describe(),
            )
        else:
            reason = _(
                "%(difference)s over the open amount, within %(tolerance)s: left on the line",
                difference=difference,
                tolerance=side.describe(),
            )
        return shares, reason, Decimal(97)

    def _spread(
        self, line: Mapping[str, Any], remaining: Decimal, items: list[OpenItem], paid: Decimal
    ) -> list[Share]:
        """`paid` (in the items' currency) allocated in order, each up to what it has open;
        the line's amount taken in proportion, the last share taking what rounding left."""
        shares = []
        left = paid
        foreign = paid != remaining or (line.get("currency") not in (None, items[0].currency))
        rate = (paid / remaining) if foreign and remaining else None
        taken = ZERO
        for n, item in enumerate(items):
            amount = min(item.open, left)
            if amount <= ZERO:
                break
            left -= amount
            if rate is None:
                source_amount = amount
            elif left <= ZERO or n == len(items) - 1:
                source_amount = min(remaining - taken, _back(amount, rate, line))
                if left <= ZERO:
                    source_amount = remaining - taken
            else:
                source_amount = _back(amount, rate, line)
            taken += source_amount
            shares.append(
                Share(
                    item.id,
                    amount,
                    source_amount,
                    exchange_rate=None if rate is None else rate.quantize(Decimal("0.000001")),
                    exchange_difference=None
                    if rate is None
                    else (_forward(source_amount, rate, item) - amount),
                )
            )
        return shares

    def _alternative(
        self,
        shares: list[Share],
        scores: list[Decimal],
        reasons: list[Message],
        customer: int | None,
    ) -> Alternative:
        rate = shares[0].exchange_rate if shares else None
        if rate is not None:
            reasons = [*reasons, _("converted at the rate %(rate)s", rate=rate)]
        score = (sum(scores, ZERO) / len(scores)).quantize(Decimal("0.1"))
        return Alternative(tuple(shares), score, tuple(reasons), customer)


def _covering(items: list[OpenItem], paid: Decimal) -> list[OpenItem]:
    """The oldest of `items` that together hold at least `paid`."""
    total, taken = ZERO, []
    for item in items:
        taken.append(item)
        total += item.open
        if total >= paid:
            break
    return taken


def _back(amount: Decimal, rate: Decimal, line: Mapping[str, Any]) -> Decimal:
    from engine.money import round_money

    return round_money(amount / rate, line.get("currency"))


def _forward(amount: Decimal, rate: Decimal, item: OpenItem) -> Decimal:
    from engine.money import round_money

    return round_money(amount * rate, item.currency)
