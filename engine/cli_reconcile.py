"""`formwork reconcile`: run the matching rules, explain, decide, match by hand, undo.

A thin layer over engine.rules.service. `formwork reconcile --json` prints one JSON
object, a stable interface for scripts and benchmarks:

    run                  id of the recorded run (null on --dry-run)
    dry_run              true when nothing was written
    definitions_version  hash of the `matching:` section that ran
    lines                bank lines looked at (unallocated, incoming)
    auto                 lines settled by a rule
    suggested            lines with a proposal waiting for a person
    unmatched            lines no rule could settle (recorded as exceptions)
    pending              lines skipped: an earlier suggestion still awaits a decision
    amounts              {"auto", "suggested", "unmatched"}: Decimal strings, line currency
    allocations          allocation records written
    write_offs           write-off records written
    credit_notes         credit notes allocated to invoices (after the lines)
    by_rule              {rule name: lines it decided}
    by_class             {difference class: lines classified}
    seconds              wall time of the run, database writes included

`formwork reconcile explain LINE --json` prints `line`, `outcome`, `rule`, `attempts`
(each `rule`, `fired`, `reason`), `alternatives` (each `score`, `customer`, `reasons`,
`shares`), `difference_class`, `difference_reason` and the line's `allocations`.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

import click

from engine.cli import CLI, _database, cli
from engine.i18n import _
from engine.rules.outcome import reasons_text
from engine.rules.service import Reconciliation


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


class _Bar:
    """A rich progress bar on stderr while it is a terminal; nothing otherwise."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                console=Console(file=sys.stderr),
                transient=True,
            )

    def __enter__(self) -> _Bar:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task(str(_("matching bank lines")), total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)


@cli.group(invoke_without_command=True)
@click.option("--dry-run", is_flag=True, help="Decide every line; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON (see the docs).")
@click.pass_context
def reconcile(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Run the matching rules over the unmatched bank lines.

    Rules settle lines (auto), propose matches (suggested) or leave them, each with the
    reasons; `formwork reconcile explain LINE` says why. Subcommands decide suggestions,
    match by hand and undo allocations.
    """
    if ctx.invoked_subcommand is not None:
        return
    with _database() as db, _Bar() as bar:
        result = Reconciliation(db, CLI).run(dry_run=dry_run, progress=bar)
    if as_json:
        _echo_json(result.as_json())
        return
    data = result.as_json()
    click.echo(
        _(
            "%(lines)s lines: %(auto)s matched (%(auto_amount)s), %(suggested)s suggested "
            "(%(suggested_amount)s), %(unmatched)s unmatched (%(unmatched_amount)s), "
            "%(pending)s awaiting a decision, in %(seconds)s s",
            lines=result.lines,
            auto=result.auto,
            auto_amount=data["amounts"]["auto"],
            suggested=result.suggested,
            suggested_amount=data["amounts"]["suggested"],
            unmatched=result.unmatched,
            unmatched_amount=data["amounts"]["unmatched"],
            pending=result.pending,
            seconds=data["seconds"],
        )
    )
    if dry_run:
        click.echo(_("dry run: nothing was written"))


@reconcile.command("explain")
@click.argument("line_id", metavar="LINE_ID", type=click.IntRange(1, 2**63 - 1))
@click.option("--json", "as_json", is_flag=True)
def explain(line_id: int, as_json: bool) -> None:
    """Say which rules were tried on bank line LINE_ID and why each did (not) fire."""
    with _database() as db:
        found = Reconciliation(db, CLI).explain(line_id)
    if as_json:
        _echo_json(found.as_json())
        return
    click.echo(_("bank line #%(line)s: %(outcome)s", line=line_id, outcome=found.outcome))
    for attempt in found.attempts:
        mark = "✓" if attempt["fired"] else "✗"
        click.echo(f"  {mark} {attempt['rule']}: {attempt['reason']}")
    for n, alt in enumerate(found.alternatives, 1):
        invoices = ", ".join(f"#{s['invoice']} {s['amount']}" for s in alt["shares"])
        click.echo(f"  {n}. {invoices} ({alt['score']})")
        for reason in alt["reasons"]:
            click.echo(f"       {reason}")
    if found.difference_class:
        click.echo(f"  {found.difference_class}: {found.difference_reason}")
    for a in found.allocations:
        click.echo(
            _(
                "  allocated %(amount)s to invoice #%(invoice)s (allocation #%(id)s)",
                amount=a["amount"],
                invoice=a["invoice"],
                id=a["id"],
            )
        )


@reconcile.command("suggestions")
@click.option("--kind", type=click.Choice(["match", "exception", "alias"]), default="match")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def suggestions(kind: str, limit: int, as_json: bool) -> None:
    """List the open suggestions (or unmatched exceptions, or alias proposals)."""
    with _database() as db:
        rows = Reconciliation(db, CLI).suggestions(kind=kind, limit=limit)
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        reasons = "; ".join(reasons_text(row.get("reasons")))
        what = row.get("alias") or f"#{row.get('invoice') or '-'}"
        click.echo(f"#{row['id']}  line #{row.get('bank_line')}  {what}  {reasons}")


@reconcile.command("confirm")
@click.argument("ids", nargs=-1, required=True, type=click.IntRange(1, 2**63 - 1))
def confirm(ids: tuple[int, ...]) -> None:
    """Confirm suggestions IDS (all or none)."""
    with _database() as db:
        settled = Reconciliation(db, CLI).confirm_many(list(ids))
    count = sum(len(s.allocations) for s in settled)
    click.echo(_("confirmed: %(count)s allocations", count=count))
    for s in settled:
        for p in s.alias_proposals:
            click.echo(
                _(
                    "proposed alias %(alias)s for customer #%(customer)s (suggestion #%(id)s)",
                    alias=p["alias"],
                    customer=p["customer"],
                    id=p["suggestion"],
                )
            )


@reconcile.command("reject")
@click.argument("ids", nargs=-1, required=True, type=click.IntRange(1, 2**63 - 1))
def reject(ids: tuple[int, ...]) -> None:
    """Reject suggestions IDS: the rules will not propose them again."""
    with _database() as db:
        Reconciliation(db, CLI).reject_many(list(ids))
    click.echo(_("rejected: %(count)s suggestions", count=len(ids)))


@reconcile.command("match")
@click.option("--line", "lines", multiple=True, required=True, type=int, help="A bank line id.")
@click.option("--invoice", "invoices", multiple=True, required=True, type=int)
@click.option("--amount", "amounts", multiple=True, help="Per invoice, for a partial payment.")
@click.option("--note")
def match(
    lines: tuple[int, ...], invoices: tuple[int, ...], amounts: tuple[str, ...], note: str | None
) -> None:
    """Match bank lines to invoices by hand (1:n, n:1, or partial with --amount)."""
    with _database() as db:
        settled = Reconciliation(db, CLI).match(
            list(lines), list(invoices), [Decimal(a) for a in amounts] or None, note
        )
    click.echo(_("matched: %(count)s allocations", count=len(settled.allocations)))


@reconcile.command("undo")
@click.argument("ids", nargs=-1, required=True, type=click.IntRange(1, 2**63 - 1))
def undo(ids: tuple[int, ...]) -> None:
    """Undo allocations IDS: open amounts come back; the history stays."""
    with _database() as db:
        Reconciliation(db, CLI).undo_many(list(ids))
    click.echo(_("undone: %(count)s allocations", count=len(ids)))


@reconcile.command("alias")
@click.argument("decision", type=click.Choice(["accept", "reject"]))
@click.argument("suggestion_id", type=click.IntRange(1, 2**63 - 1))
def alias(decision: str, suggestion_id: int) -> None:
    """Accept or reject a proposed customer alias."""
    with _database() as db:
        service = Reconciliation(db, CLI)
        if decision == "accept":
            service.accept_alias(suggestion_id)
        else:
            service.reject_alias(suggestion_id)
    click.echo(_("alias proposal #%(id)s: %(decision)s", id=suggestion_id, decision=decision))


@reconcile.command("runs")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def runs(limit: int) -> None:
    """The recorded runs, newest first: who, when, rules version, counts, duration."""
    with _database() as db:
        rows = Reconciliation(db, CLI).runs(limit)
    for r in rows:
        click.echo(
            f"#{r['id']}  {r['started_at']:%Y-%m-%d %H:%M:%S}  {r.get('started_by')}  "
            f"{r.get('status')}  v{r.get('definitions_version')}  lines {r.get('lines')}  "
            f"auto {r.get('auto')}  suggested {r.get('suggested')}  "
            f"unmatched {r.get('unmatched')}  {r.get('seconds')} s"
        )
