"""Figures are PNG files drawn without pyplot: drawing one changes nothing global."""

import json

import matplotlib

from rnnlab.report.figures import plot_learning_curve, plot_order


def test_figures_are_pngs_and_leave_matplotlibs_backend_alone(tmp_path):
    backend = matplotlib.get_backend()
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"epoch": e, "train_loss": 1 / e, "validation_accuracy": 0.5 + e / 10}) + "\n"
                               for e in (1, 2, 3)))
    curve = plot_learning_curve(metrics, tmp_path / "curve.png")
    bars = plot_order([{"data": "mnist1d", "model": "recurrent", "test_accuracy": 0.9},
                       {"data": "mnist1d", "model": "mlp", "test_accuracy": 0.6}], tmp_path / "order.png")
    for path in (curve, bars):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    assert matplotlib.get_backend() == backend
