"""The memory grid as text: one row per run, sorted by task, length and cell."""

from __future__ import annotations

import math


def memory_table(rows: list[dict]) -> str:
    """The grid as text: task, cell, length, final metric, baseline, solved or not, updates to solve, time."""
    lines = [f"{'task':16s} {'cell':9s} {'T':>5s} {'metric':>8s} {'baseline':>9s} {'solved':>7s} {'at update':>9s} "
             f"{'time':>7s}"]
    for r in sorted_rows(rows):
        solved = "-" if r["solved"] is None else ("yes" if r["solved"] else "no")
        at = "-" if r.get("solved_at") is None else str(r["solved_at"])
        metric = "accuracy" if r["task"] == "mnist1d-shuffled" else ""
        lines.append(f"{r['task']:16s} {r['cell']:9s} {r['length']:5d} {format_metric(r['metric']):>8s} "
                     f"{r['baseline']:9.4f} "
                     f"{solved:>7s} {at:>9s} {r['seconds']:6.0f}s {metric}".rstrip())
    return "\n".join(lines)


def format_metric(value: float | None) -> str:
    """A metric to 4 decimals; a diverged run's (NaN, or None read back from JSON) as "diverged"."""
    return "diverged" if value is None or math.isnan(value) else f"{value:.4f}"


def sorted_rows(rows: list[dict]) -> list[dict]:
    order = {"adding": 0, "copy": 1, "mnist1d-shuffled": 2}
    return sorted(rows, key=lambda r: (order.get(r["task"], 3), r["length"], r["cell"]))
