"""Order is the point: recurrent models against order-blind ones, on data in order and with its order destroyed.

:func:`bench_order` (``rnnlab bench order``) trains every (data, model) pair of :data:`ORDER_GRID` with
``rnnlab train``'s defaults for the task, prints the table of test accuracies and writes
``order.json`` and ``order.png``.
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.files import timestamped, write_json
from rnnlab.report.figures import plot_order
from rnnlab.tasks import TrainConfig
from rnnlab.training import train

ORDER_GRID = (
    ("mnist1d", ("recurrent", "mlp")),
    ("mnist1d-shuffled", ("recurrent", "mlp")),
    ("word-language", ("recurrent", "bag-of-chars", "char-ngram")),
    ("japanese-vowels", ("recurrent", "bag-of-frames")),
    ("japanese-vowels-shuffled", ("recurrent", "bag-of-frames")),
)
QUICK_EPOCHS = {"mnist1d": 8, "mnist1d-shuffled": 8, "word-language": 2, "japanese-vowels": 10,
                "japanese-vowels-shuffled": 10}


def bench_order(out_dir: Path | None = None, quick: bool = False, seed: int = 0) -> list[dict]:
    """Recurrent models against order-blind ones on data in order and with its order destroyed.

    Trains every (data, model) pair of :data:`ORDER_GRID` with ``rnnlab train``'s defaults for the
    task (``quick``: a few epochs only), prints the table of test accuracies, and writes it to
    ``out_dir`` as ``order.json`` and ``order.png``.  Returns the rows.
    """
    out_dir = Path(out_dir) if out_dir is not None else timestamped("bench-order")
    rows = []
    for task, models in ORDER_GRID:
        for model in models:
            config = TrainConfig(task=task, model=model, seed=seed, run_dir=out_dir / f"{task}-{model}",
                                 epochs=QUICK_EPOCHS[task] if quick else None)
            summary = train(config, progress_bar=False)
            rows.append({"data": task, "model": model, "test_accuracy": summary["test_accuracy"],
                         "seconds": summary["seconds"]})
    print("\n" + order_table(rows))
    write_order_figure(rows, out_dir)
    print(f"\nwritten: {out_dir / 'order.json'}, {out_dir / 'order.png'}")
    return rows


def order_table(rows: list[dict]) -> str:
    width = max(18, *(len(r["data"]) for r in rows))
    lines = [f"{'data':{width}s} {'model':14s} {'test accuracy':>13s} {'time':>8s}"]
    lines += [f"{r['data']:{width}s} {r['model']:14s} {r['test_accuracy']:13.4f} {r['seconds']:7.0f}s" for r in rows]
    return "\n".join(lines)


def write_order_figure(rows: list[dict], out_dir: Path) -> None:
    """``order.json`` and a bar chart ``order.png`` of test accuracy per data variant and model."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "order.json", rows)
    plot_order(rows, out_dir / "order.png")
