"""The figures of the matching benchmark: the tables and the verdicts against issue 6's
targets."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import reconcile_data
from reconcile_score import Score, pct

TARGET_PRECISION, TARGET_RECALL = 0.995, 0.97
TARGET_SECONDS, TARGET_MB, TARGET_LINES = 20.0, 1024.0, 100_000


@dataclass
class Run:
    tool: str
    sizes: reconcile_data.Sizes
    seconds: float
    cpu: float
    peak_mb: float
    auto: Score
    combined: Score | None  # auto + top suggestion (None: the tool suggests nothing)
    kinds: dict[str, tuple[Score, Score | None]] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # the command failed: its error output (nothing was scored)


def table(runs: list[Run]) -> str:
    lines = [
        "| lines | open invoices | invoices | tool | seconds | CPU s | peak MB"
        " | auto precision | auto recall | auto + top suggestion precision | recall |",
        "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        s = r.sizes
        both = [pct(r.combined.precision), pct(r.combined.recall)] if r.combined else ["-", "-"]
        auto = ["-", "-"] if r.error else [pct(r.auto.precision), pct(r.auto.recall)]
        tool = f"{r.tool} (FAILED)" if r.error else r.tool
        cells = [f"{s.lines:,}", f"{s.open_invoices:,}", f"{s.invoices:,}", tool]
        cells += [f"{r.seconds:.2f}", f"{r.cpu:.2f}", f"{r.peak_mb:.0f}", *auto, *both]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def kinds_table(runs: list[Run]) -> str:
    """Recall per kind of line (and wrong pairs found), for the largest size of each tool."""
    largest = {}
    for r in runs:
        if not r.error:
            largest[r.tool] = r
    tools = list(largest.values())
    head = " | ".join(f"{r.tool}: auto recall | + top suggestion" for r in tools)
    lines = [f"| kind | true pairs | {head} |", "| --- | ---: |" + " ---: | ---: |" * len(tools)]
    kinds = sorted({k for r in tools for k in r.kinds})
    for kind in kinds:
        true = max(r.kinds[kind][0].true for r in tools if kind in r.kinds)
        cells = []
        for r in tools:
            auto, both = r.kinds.get(kind, (None, None))
            if auto is None:
                cells += ["-", "-"]
                continue
            cells.append(_cell(auto))
            cells.append(_cell(both) if both else "-")
        lines.append(f"| {kind} | {true:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(s: Score) -> str:
    """Recall and, in brackets, the wrong pairs found; a kind that pays nothing has no recall."""
    recall = pct(s.recall) if s.true else "-"
    return f"{recall} ({s.found - s.right} wrong)"


def verdicts(runs: list[Run]) -> list[str]:
    out = []
    mine = [r for r in runs if r.tool == "formwork reconcile"]
    for r in mine:
        at = f"{r.sizes.lines:,} lines"
        if r.error:
            last = r.error.strip().splitlines()[-1][:300] if r.error.strip() else "?"
            out.append(f"{at}: formwork reconcile FAILED after {r.seconds:.1f} s: {last}")
            continue
        out.append(
            _verdict(
                f"{at}: auto precision {pct(r.auto.precision)} >= 99.5 %",
                r.auto.precision >= TARGET_PRECISION,
            )
        )
        if r.combined:
            ok = r.combined.recall >= TARGET_RECALL
            out.append(
                _verdict(
                    f"{at}: recall (auto + top suggestion) {pct(r.combined.recall)} >= 97 %", ok
                )
            )
        else:
            out.append(
                f"{at}: recall (auto + top suggestion): no suggestions in the database:"
                " NOT MEASURED"
            )
        out.append(_verdict(f"{at}: peak memory {r.peak_mb:.0f} MB < 1 GB", r.peak_mb < TARGET_MB))
        if r.sizes.lines >= TARGET_LINES:
            out.append(
                _verdict(
                    f"{at}: {r.seconds:.1f} s < 20 s (CPU {r.cpu:.1f} s)",
                    r.seconds < TARGET_SECONDS,
                )
            )
    if len(mine) >= 2 and not any(r.error for r in mine):
        small, big = mine[0], mine[-1]
        n1, n2 = small.sizes.lines, big.sizes.lines
        ratio = big.seconds / small.seconds
        cpu_ratio = big.cpu / small.cpu if small.cpu else float("nan")
        nlogn = (n2 * math.log(n2)) / (n1 * math.log(n1))
        out.append(
            _verdict(
                f"time {n1:,} -> {n2:,} lines: x{ratio:.1f}, CPU x{cpu_ratio:.1f} (judged: the"
                f" machine's load moves wall time); n log n would be x{nlogn:.1f}",
                cpu_ratio <= nlogn * 1.1,
            )
        )
    return out


def _verdict(text: str, ok: bool) -> str:
    return f"{text}: {'met' if ok else 'MISSED'}"
