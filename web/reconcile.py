"""The reconciliation workbench: suggestions to decide, lines to match by hand, undo, runs.

Thin over engine.rules: every decision is a call on engine.rules.service
(`Reconciliation`), every read one on engine.rules.workbench; this module only turns
forms into those calls and their results and errors into pages and flashed messages.
The engine refuses what the user's role may not do (a viewer sees, cannot change).

A run of the rules goes in a background thread of this process, so the page stays
usable; the page polls `run/<job>` for its progress (JSON). Jobs live in this
process's memory: with several workers, a poll that reaches another one is told the
job is unknown, and the run history (recorded by the engine) still shows the run.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from engine.errors import Conflict, FormworkError, NotFound, ValidationError
from engine.fieldtypes import FIELD_TYPES
from engine.i18n import N_
from engine.permissions import Principal
from engine.rules.run import NoMatchingRules, matching_of
from engine.rules.service import Reconciliation, Settled
from engine.rules.workbench import Workbench
from engine.storage import Database
from web.context import formwork, principal
from web.i18n import _, loc, locale, ngettext

bp = Blueprint("reconcile", __name__, url_prefix="/reconcile")
MAX_ID = 2**63 - 1
KEEP_JOBS = 20


# -- helpers -------------------------------------------------------------------------------------


def _service() -> Reconciliation:
    try:
        return Reconciliation(formwork().db, principal())
    except NoMatchingRules:
        abort(404, _("These apps have no matching rules."))


def _bench() -> Workbench:
    return Workbench(_service())


def _ids(name: str) -> list[int]:
    """Record ids from a form's repeated field; anything else is ignored."""
    out = []
    for raw in request.form.getlist(name):
        text = raw.strip()
        if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID:
            out.append(int(text))
    return out


def _one(name: str) -> int | None:
    found = _ids(name)
    return found[0] if found else None


def _error(exc: FormworkError) -> None:
    """A refused decision, flashed in the reader's language."""
    if isinstance(exc, ValidationError):
        text = "; ".join(str(loc(m)) for m in exc.errors.values())
    else:
        text = str(loc(exc.args[0])) if exc.args else str(exc)
    flash(_("Nothing was changed: %(reason)s", reason=text), "error")


def _back(**params: Any):
    """To the workbench, keeping the customer and line the person was looking at."""
    keep = {k: request.form.get(k) for k in ("customer", "line") if request.form.get(k)}
    anchor = params.pop("_anchor", None)
    return redirect(url_for("reconcile.index", **keep, **params, _anchor=anchor))


def _arg_id(name: str) -> int | None:
    text = request.args.get(name, "").strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID else None


# -- the page ------------------------------------------------------------------------------------


@bp.get("/")
def index():
    bench = _bench()
    line_id = _arg_id("line")
    customer_id = _arg_id("customer")
    if customer_id is None and line_id is not None:
        customer_id = bench.customer_of_line(line_id)
    job = JOBS.get(request.args.get("job", ""))
    return render_template(
        "reconcile/index.html",
        proposals=bench.proposals(),
        lines=bench.open_lines(),
        chosen_line=line_id,
        customer_id=customer_id,
        customer_label=bench.customer_label(customer_id),
        candidates=bench.candidates(customer_id) if customer_id else [],
        allocations=bench.recent_allocations(),
        aliases=bench.alias_proposals(),
        runs=_service().runs(limit=5),
        can_decide=bench.can_decide(),
        customer_ref=_customer_ref(bench, customer_id),
        job=job if job is not None and job.user == _user() else None,
    )


def _customer_ref(bench: Workbench, customer_id: int | None) -> dict[str, Any] | None:
    """The customer chooser: the records pages' searchable ref input."""
    entity = bench.customer_entity
    if entity is None:
        return None
    return {
        "options": None,
        "label": bench.customer_label(customer_id) or "",
        "lookup": url_for("records.lookup", app=entity.app, entity=entity.name),
        "target": entity,
    }


@bp.get("/lines/<int:line_id>")
def why(line_id: int):
    """Why a line stands as it does: each rule tried and why it did (not) fire."""
    bench = _bench()
    try:
        found = bench.why(line_id)
    except NotFound:
        abort(404)
    return render_template("reconcile/why.html", why=found, can_decide=bench.can_decide())


@bp.get("/runs")
def runs():
    return render_template("reconcile/runs.html", runs=_service().runs(limit=200))


# -- decisions -----------------------------------------------------------------------------------


@bp.post("/suggestions")
def decide():
    """Confirm or reject one suggestion (its row's button) or every ticked one."""
    service = _service()
    try:
        if request.form.get("confirm_one"):
            suggestion, _sep, alternative = request.form["confirm_one"].partition(":")
            settled = [service.confirm(int(suggestion), int(alternative or 0))]
            _confirmed(settled)
        elif request.form.get("reject_one"):
            service.reject(int(request.form["reject_one"]))
            flash(_("The suggestion was rejected: it will not be proposed again."), "success")
        else:
            chosen = _ids("suggestion")
            if not chosen:
                flash(_("Tick the suggestions to decide first."), "error")
            elif request.form.get("action") == "reject":
                service.reject_many(chosen)
                flash(
                    ngettext(
                        "%(num)s suggestion was rejected.",
                        "%(num)s suggestions were rejected.",
                        len(chosen),
                    ),
                    "success",
                )
            else:
                _confirmed(service.confirm_many(chosen))
    except (ValueError, TypeError):
        abort(400)
    except (ValidationError, Conflict, NotFound) as exc:
        _error(exc)
    return _back(_anchor="suggestions")


def _confirmed(settled: list[Settled]) -> None:
    count = sum(len(s.allocations) for s in settled)
    flash(
        ngettext(
            "Confirmed: %(num)s allocation was made.",
            "Confirmed: %(num)s allocations were made.",
            count,
        ),
        "success",
    )
    _aliases_flash(settled)


def _aliases_flash(settled: list[Settled]) -> None:
    proposed = [p for s in settled for p in s.alias_proposals]
    if proposed:
        flash(
            ngettext(
                "Formwork proposes remembering %(num)s new name or IBAN for the customer: "
                "accept or reject it under New aliases.",
                "Formwork proposes remembering %(num)s new names or IBANs for customers: "
                "accept or reject them under New aliases.",
                len(proposed),
            ),
            "info",
        )


@bp.post("/match")
def match():
    """Match by hand: the ticked lines to the ticked invoices."""
    lines, invoices = _ids("line"), _ids("invoice")
    if not lines or not invoices:
        flash(_("Tick at least one bank line and one invoice to match."), "error")
        return _back(_anchor="match")
    try:
        settled = _service().match(lines, invoices, note=request.form.get("note") or None)
    except (ValidationError, Conflict, NotFound) as exc:
        _error(exc)
        return _back(_anchor="match")
    flash(
        ngettext(
            "Matched by hand: %(num)s allocation was made.",
            "Matched by hand: %(num)s allocations were made.",
            len(settled.allocations),
        ),
        "success",
    )
    _aliases_flash([settled])
    return _back(_anchor="match")


@bp.post("/undo")
def undo():
    """Undo one allocation (its row's button) or every ticked one."""
    one = _one("undo_one")
    chosen = [one] if one is not None else _ids("allocation")
    if not chosen:
        flash(_("Tick the allocations to undo first."), "error")
        return _back(_anchor="allocations")
    try:
        _service().undo_many(chosen)
    except (ValidationError, Conflict, NotFound) as exc:
        _error(exc)
    else:
        flash(
            ngettext(
                "%(num)s allocation was undone: the money is open again.",
                "%(num)s allocations were undone: the money is open again.",
                len(chosen),
            ),
            "success",
        )
    return _back(_anchor="allocations")


@bp.post("/aliases")
def aliases():
    """Accept (add to the customer) or reject a proposed alias."""
    service = _service()
    accept, reject = _one("accept"), _one("reject")
    try:
        if accept is not None:
            service.accept_alias(accept)
            flash(
                _("The alias was added to the customer: their next payments match on it."),
                "success",
            )
        elif reject is not None:
            service.reject_alias(reject)
            flash(_("The alias was not added."), "success")
        else:
            abort(400)
    except (ValidationError, Conflict, NotFound) as exc:
        _error(exc)
    return _back(_anchor="aliases")


# -- runs in the background ----------------------------------------------------------------------


@dataclass
class Job:
    """A run of the rules going on in a thread of this process."""

    id: str
    user: int
    dry_run: bool
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    total: int | None = None
    state: str = "running"  # running | done | failed
    result: dict[str, Any] | None = None
    error: Any = None
    thread: threading.Thread | None = None

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


JOBS: dict[str, Job] = {}
JOBS_LOCK = threading.Lock()


def _user() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def _work(job: Job, db: Database, who: Principal) -> None:
    try:
        result = Reconciliation(db, who).run(dry_run=job.dry_run, progress=job.progress)
    except FormworkError as exc:
        job.error, job.state = (exc.args[0] if exc.args else str(exc)), "failed"
    except Exception as exc:  # a crash is reported on the page, not lost in a thread
        job.error, job.state = repr(exc), "failed"
    else:
        job.result, job.state = result.as_json(), "done"


@bp.post("/run")
def run():
    """Start a run (or a dry run) in the background; JSON {job, progress} or a redirect."""
    bench = _bench()
    if not bench.can_decide():
        abort(403)
    dry_run = request.form.get("dry_run") == "1"
    with JOBS_LOCK:
        if any(j.state == "running" for j in JOBS.values()):
            message = _("A run is already going; wait until it ends.")
            if _wants_json():
                return jsonify(error=message), 409
            flash(message, "error")
            return _back()
        job = Job(secrets.token_urlsafe(12), _user() or 0, dry_run)
        JOBS[job.id] = job
        for old in sorted(JOBS.values(), key=lambda j: j.started)[:-KEEP_JOBS]:
            if old.state != "running":
                JOBS.pop(old.id, None)
    job.thread = threading.Thread(
        target=_work,
        args=(job, formwork().db, principal()),
        name=f"reconcile-{job.id}",
        daemon=True,
    )
    job.thread.start()
    if _wants_json():
        return jsonify(job=job.id, progress=url_for("reconcile.progress", job_id=job.id)), 202
    return redirect(url_for("reconcile.index", job=job.id, _anchor="run"))


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.get("/run/<job_id>")
def progress(job_id: str):
    """A run's progress: {state, done, total, text, result?}."""
    job = JOBS.get(job_id)
    if job is None or job.user != _user():
        return jsonify(
            state="unknown", text=_("This run is not known here any more: see the run history.")
        ), 404
    return jsonify(
        state=job.state,
        done=job.done,
        total=job.total,
        dry_run=job.dry_run,
        text=job_text(job),
        result=job.result,
    )


def job_text(job: Job) -> str:
    """What the page says about a run, in the reader's language."""
    if job.state == "failed":
        return _("The run failed: %(error)s", error=job.error)
    if job.state == "running":
        if not job.total:
            return _("Reading the open lines and invoices…")
        return _("Matching line %(done)s of %(total)s…", done=job.done, total=job.total)
    r = job.result or {}
    params = {k: r.get(k, 0) for k in ("lines", "auto", "suggested", "unmatched", "pending")}
    seconds = Decimal(str(r.get("seconds", 0))).quantize(Decimal("0.01"))
    if job.dry_run:
        return _(
            "Dry run, nothing written: of %(lines)s lines, %(auto)s would be matched, "
            "%(suggested)s suggested and %(unmatched)s left unmatched; %(pending)s await a "
            "decision (%(seconds)s s).",
            seconds=seconds,
            **params,
        )
    return _(
        "Run done: of %(lines)s lines, %(auto)s were matched, %(suggested)s suggested "
        "and %(unmatched)s left unmatched; %(pending)s await a decision (%(seconds)s s).",
        seconds=seconds,
        **params,
    )


@bp.app_template_global("job_text")
def _job_text(job: Job) -> str:
    return job_text(job)


# -- formatting ----------------------------------------------------------------------------------

RUN_STATUS = {"running": N_("running"), "done": N_("done"), "failed": N_("failed")}
OUTCOMES = {
    "auto": N_("A rule would settle it now."),
    "suggest": N_("A rule proposes a match: a person decides."),
    "unmatched": N_("No rule settles it."),
    "skipped": N_("Nothing is left open on it."),
    "pending": N_("A suggestion for it awaits a decision."),
}


@bp.app_template_filter("money")
def money_text(value: Any) -> str:
    """An amount as its currency keeps it, in the reader's locale: 1,234.50 or 1.234,50."""
    return "" if value is None else FIELD_TYPES["money"].format(Decimal(value), None, locale())  # type: ignore[arg-type]


@bp.app_template_filter("day")
def day_text(value: Any) -> str:
    return "" if value is None else FIELD_TYPES["date"].format(value, None, locale())  # type: ignore[arg-type]


@bp.app_template_filter("percent")
def percent_text(value: Any) -> str:
    """A score out of 100: 92 %, 98.5 %."""
    number = Decimal(value).quantize(Decimal("0.01")).normalize()
    return _("%(score)s %%", score=format_decimal(number, locale=locale()))


@bp.app_template_global("run_status")
def run_status(status: str | None) -> str:
    return _(RUN_STATUS[status]) if status in RUN_STATUS else status or ""


@bp.app_template_global("rule_label")
def rule_label(name: str | None) -> str:
    """A rule's label in the reader's language (the `{{ }}` finalizer localizes it)."""
    if not name:
        return ""
    try:
        return matching_of(formwork().db.appset).rule_label(name)
    except NoMatchingRules:
        return name


@bp.app_template_global("outcome_text")
def outcome_text(outcome: str) -> str:
    return _(OUTCOMES[outcome]) if outcome in OUTCOMES else outcome
