"""The HTML report escapes every value read from a file and refuses malformed files in one line."""

from __future__ import annotations

import json

import pytest

from rnnlab import cli
from rnnlab.errors import CheckpointError
from rnnlab.report.html import write_report

HOSTILE = "<script>alert(1)</script>"


def _grid(directory, **row):
    directory.mkdir()
    base = {"task": "adding", "cell": "lstm", "length": 50, "metric": 0.01, "baseline": 0.167, "solved": True,
            "solved_at": 300, "seconds": 12.0}
    (directory / "memory.json").write_text(json.dumps({"rows": [{**base, **row}], "seconds": 60.0,
                                                       "solved_fraction": 0.1}))
    return directory


@pytest.mark.parametrize("field", ["task", "cell", "solved_at"])
def test_a_hostile_string_from_a_grid_is_escaped(field, tmp_path):
    grid = _grid(tmp_path / "grid", **{field: HOSTILE})
    (grid / "config.json").write_text(json.dumps({"task": HOSTILE}))
    page = write_report([grid], tmp_path / "report.html").read_text()
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("name,content", [("memory.json", "{not json"), ("test_metrics.json", "[1, 2"),
                                          ("memory.json", json.dumps({"rows": [{"task": "adding"}]}))])
def test_a_malformed_file_is_refused_in_one_line(name, content, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / name).write_text(content)
    with pytest.raises(CheckpointError, match=str(run)):
        write_report([run], tmp_path / "report.html")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["report", str(run)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith(f"rnnlab: error: {run}") and err.count("\n") == 1
    assert not (run / "report.html").exists()
