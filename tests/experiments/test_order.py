"""Order is the point: the table and figure of recurrent against order-blind models."""

from __future__ import annotations

import json

from rnnlab.experiments.order import order_table, write_order_figure


def test_order_table_and_figure(tmp_path):
    rows = [{"data": "mnist1d", "model": "recurrent", "test_accuracy": 0.99, "seconds": 300.0},
            {"data": "mnist1d", "model": "mlp", "test_accuracy": 0.68, "seconds": 20.0}]
    table = order_table(rows)
    assert "recurrent" in table and "0.6800" in table
    write_order_figure(rows, tmp_path)
    assert json.loads((tmp_path / "order.json").read_text()) == rows
    assert (tmp_path / "order.png").read_bytes()[:4] == b"\x89PNG"
