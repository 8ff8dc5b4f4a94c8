"""The memory grid as text: one row per run, sorted by task, length and cell."""

from __future__ import annotations

import math

MEMORY_COLUMNS = ("task", "cell", "T", "state", "at update", "metric", "baseline", "published", "agrees",
                  "updates", "seconds")


def memory_state_of(r: dict) -> str | None:
    """A row's state; a row written before states existed falls back on its ``solved`` flag."""
    if r.get("state"):
        return r["state"]
    return {True: "solved", False: "baseline"}.get(r.get("solved"))


def memory_row(r: dict) -> list[str]:
    """One grid row as the table's strings (:data:`MEMORY_COLUMNS`); shuffled MNIST-1D rows have an
    accuracy in the metric column and no state."""
    published = r.get("published") or {}
    agrees = {True: "yes", False: "NO"}.get(r.get("agrees"), "-")
    metric = format_metric(r["metric"]) + (" acc." if r["task"] == "mnist1d-shuffled" else "")
    return [str(r["task"]), str(r["cell"]), str(int(r["length"])), memory_state_of(r) or "-",
            "-" if r.get("solved_at") is None else str(r["solved_at"]), metric,
            f"{float(r['baseline']):.4f}", str(published.get("state", "-")), agrees,
            "-" if r.get("updates") is None else str(r["updates"]), f"{float(r['seconds']):.0f}"]


def disagreements(rows: list[dict]) -> list[tuple[str, str, str]]:
    """``(run, why, source)`` for every row that disagrees with the published result and says why."""
    return [(f"{r['task']} {r['cell']} T={int(r['length'])}", str(r["why"]),
             str((r.get("published") or {}).get("source", "-"))) for r in sorted_rows(rows) if r.get("why")]


def memory_table(rows: list[dict]) -> str:
    """The grid as text (:data:`MEMORY_COLUMNS`), then one line of why for every disagreement with the
    published result."""
    body = [memory_row(r) for r in sorted_rows(rows)]
    widths = [max([len(c), *(len(row[k]) for row in body)]) for k, c in enumerate(MEMORY_COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(MEMORY_COLUMNS, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in body]
    lines += [f"* {run}: {why} (source: {source})" for run, why, source in disagreements(rows)]
    return "\n".join(lines)


def format_metric(value: float | None) -> str:
    """A metric to 4 decimals (in powers of ten when huge); a diverged run's (NaN, or None read back
    from JSON) as "diverged"."""
    if value is None or math.isnan(value):
        return "diverged"
    return f"{value:.2e}" if abs(value) >= 1e4 else f"{value:.4f}"


def sorted_rows(rows: list[dict]) -> list[dict]:
    order = {"adding": 0, "copy": 1, "mnist1d-shuffled": 2}
    return sorted(rows, key=lambda r: (order.get(r["task"], 3), r["length"], r["cell"]))
