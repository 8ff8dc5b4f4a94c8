"""The rnnlab command: help at every level, and the layer benchmark wired to it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rnnlab
from rnnlab import cli
from rnnlab.bench import dropout as bench_dropout
from rnnlab.bench import layers as bench
from rnnlab.bench import seq2seq as bench_seq2seq
from rnnlab.bench.timing import GLIBC

TINY = bench.Size(T=3, B=2, I=3, H=4)


@pytest.mark.parametrize("args", [["--help"], ["bench", "--help"], ["bench", "layers", "--help"]])
def test_help_exits_zero(args, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(args)
    assert raised.value.code == 0
    assert "usage: rnnlab" in capsys.readouterr().out


def test_bench_module_runs_as_a_script():
    root = Path(rnnlab.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "rnnlab.bench", "layers", "--help"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--repeats" in result.stdout


def test_bench_layers_command_passes_its_options_on(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "bench_layers", lambda **kwargs: calls.append(kwargs))
    cli.main(["bench", "layers", "--repeats", "2", "--quick"])
    assert calls == [{"repeats": 2, "quick": True}]


def test_bench_layers_returns_a_row_of_times_and_ratios_per_cell(capsys):
    rows = bench.bench_layers(repeats=1, quick=True, sizes=[TINY])
    assert [row["cell"] for row in rows] == ["LSTM", "GRU", "RNN"]
    for row in rows:
        assert (row["T"], row["B"], row["I"], row["H"]) == TINY
        for kind in ("fwd", "fwd_bwd"):
            assert all(row[f"{name}_{kind}_ms"] > 0 for name in ("torch", "native", "unrolled"))
            assert all(row[f"{name}_{kind}_ratio"] > 0 for name in ("native", "unrolled"))
    table = capsys.readouterr().out
    assert "threads" in table and "T=3 B=2 I=3 H=4" in table
    assert "allocator: " in table


KEPT_BUFFER_CHECK = """
import ctypes, sys
from rnnlab.bench.timing import keep_freed_buffers
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype, libc.malloc.restype, libc.free.argtypes = Info, ctypes.c_void_p, [ctypes.c_void_p]
def mapped_blocks_while_holding(size):
    block = libc.malloc(size)
    count = libc.mallinfo2().hblks
    libc.free(block)
    return count
size = 64 * 2**20
before = mapped_blocks_while_holding(size) - libc.mallinfo2().hblks
print(keep_freed_buffers())
after = mapped_blocks_while_holding(size) - libc.mallinfo2().hblks
print(before, after)
"""


@pytest.mark.skipif(not GLIBC, reason="mallopt's thresholds are glibc's")
def test_benchmarks_keep_freed_buffers_for_reuse_where_glibc_would_map_them_fresh():
    """A 64 MiB buffer is a fresh mapping of its own by glibc's defaults, and comes from the heap, to be reused,
    once the benchmarks' setting ran (in a process of its own: the setting lasts for the process)."""
    result = subprocess.run([sys.executable, "-c", KEPT_BUFFER_CHECK], capture_output=True, text=True, check=True)
    line, counts = result.stdout.strip().splitlines()
    assert line.startswith("allocator: glibc's, keeping freed buffers up to 256 MiB")
    assert counts == "1 0"


def test_bench_seq2seq_times_feeding_stepped_and_fused_on_cmudict_batches(capsys):
    rows = bench_seq2seq.bench_seq2seq(hidden_sizes=(8,), precisions=("fp32", "bf16"), repeats=1)
    assert [(row["hidden_size"], row["precision"]) for row in rows] == [(8, "fp32"), (8, "bf16")]
    for row in rows:
        assert all(row[f"{name}_ms"] > 0 for name in ("feeding", "stepped", "fused"))
        assert row["fused_ratio"] == row["fused_ms"] / row["feeding_ms"]
    assert "fused ratio" in capsys.readouterr().out


def test_bench_dropout_times_both_dropouts_alone_and_in_the_g2p_step(capsys):
    rows = bench_dropout.bench_dropout(widths=(8,), repeats=1)
    assert [row["what"] for row in rows] == ["(128, 12, 8) float32", "(128, 12, 8) bfloat16",
                                             "G2P default model, batch 128, bf16"]
    for row in rows:
        assert row["torch_ms"] > 0 and row["rnnlab_ms"] > 0 and row["ratio"] == row["rnnlab_ms"] / row["torch_ms"]
    assert "ratio = rnnlab / torch" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        cli.main(["bench", "dropout", "--widths", "0", "--no-model"])
    assert stop.value.code == 2 and "at least 1" in capsys.readouterr().err


def test_bench_seq2seq_command_refuses_a_zero_size(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["bench", "seq2seq", "--hidden-sizes", "0"])
    assert stop.value.code == 2 and "at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_do_not_import_torch(args):
    code = f"import sys\nfrom rnnlab.cli import main\ntry:\n    main({args!r})\nexcept SystemExit as stop:\n" \
           "    print('exit', stop.code, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "exit 0 False", result.stderr


def test_version_prints_the_installed_version(capsys):
    from importlib.metadata import version
    with pytest.raises(SystemExit) as raised:
        cli.main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out == f"rnnlab {version('rnnlab')}\n"


def test_help_lists_every_command_in_order_with_its_summary(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    names = ["train", "evaluate", "predict", "generate", "attention", "export", "diagnose", "memory", "report",
             "explore", "serve", "bench"]
    assert list(cli.COMMANDS) == names
    positions = [out.index(f"\n    {name}") for name in names]
    assert positions == sorted(positions)
    assert all(" ".join(command.summary.split()[:4]) in " ".join(out.split()) for command in cli.COMMANDS.values())


def test_the_table_names_the_commands_its_modules_register():
    from rnnlab.cli.root import app
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert list(app._subcommands) == list(cli.COMMANDS)


@pytest.mark.parametrize("args,expected", [([], "required: COMMAND"), (["nope"], "invalid choice: 'nope'")])
def test_a_missing_or_unknown_command_exits_2(args, expected, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(args)
    assert raised.value.code == 2 and expected in capsys.readouterr().err


@pytest.mark.parametrize("args, expected", [
    (["memory", "--cells", "lstm", "lsmt"], "--cells: unknown cell 'lsmt'; choose from"),
    (["memory", "--updates", "0"], "--updates must be at least 1, got 0"),
])
def test_memory_refuses_an_unknown_cell_or_no_updates_before_it_starts(args, expected, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main([*args, "--out-dir", str(tmp_path / "grid")])
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnlab: error: ") and expected in err and "\n" not in err
    assert not (tmp_path / "grid").exists()


def test_bench_variants_times_each_cell_beside_the_torch_nn_layer_it_varies(capsys):
    rows = bench.bench_variants(repeats=1, sizes=[TINY])
    assert [row["cell"] for row in rows] == list(bench.VARIANTS)
    assert all(row["ours_fwd_bwd_ratio"] == row["ours_fwd_bwd_ms"] / row["torch_fwd_bwd_ms"] > 0 for row in rows)
    assert "MGU" in capsys.readouterr().out


def test_bench_regularisers_times_each_regulariser_beside_its_plain_engine(capsys):
    from rnnlab.bench import regularisers

    rows = regularisers.bench_regularisers(repeats=1, sizes=[TINY])
    assert len(rows) == 1 and set(regularisers.RATIOS) <= {k.removesuffix("_ratio") for k in rows[0]}
    assert all(rows[0][f"{name}_ms"] > 0 for name in regularisers.CONTENDERS)
    assert "native+weight_drop" in capsys.readouterr().out
    with pytest.raises(SystemExit) as raised:
        cli.main(["bench", "regularisers", "--help"])
    assert raised.value.code == 0
