"""rnnlab diagnose and rnnlab report on a trained run."""

from __future__ import annotations

import json

import pytest

from rnnlab import cli
from tests.helpers import HtmlImages


def test_diagnose_and_report_a_trained_run_from_the_command_line(tmp_path, capsys):
    run_dir = tmp_path / "run"
    cli.main(["train", "--task", "mnist1d", "--epochs", "1", "--hidden-size", "8", "--num-layers", "1",
              "--run-dir", str(run_dir)])
    cli.main(["diagnose", str(run_dir), "--jacobian-sequences", "2"])
    printed = capsys.readouterr().out
    assert "gradient ratio at the far end" in printed and "clipped at 1.0" in printed
    summary = json.loads((run_dir / "diagnostics" / "diagnostics.json").read_text())
    assert [layer["name"] for layer in summary["layers"]] == ["encoder/l0", "encoder/l0_reverse"]
    assert len(summary["layers"][0]["flow_ratio"]) == 40 and summary["grad_norms"]
    for plot in ("gradient_flow.png", "jacobian.png", "gates.png", "grad_norms.png"):
        assert (run_dir / "diagnostics" / plot).exists()
    cli.main(["report", str(run_dir)])
    parser = HtmlImages()
    parser.feed((run_dir / "report.html").read_text())
    assert {"learning_curve.png", "gradient_flow.png", "jacobian.png"} <= {i["alt"] for i in parser.images}
    with pytest.raises(SystemExit):
        cli.main(["report", str(tmp_path / "missing")])
    assert "no such directory" in capsys.readouterr().err
