"""``quanttheory analyze CHECKPOINT`` (``quanttheory._cli.analyze``).

The subcommand is tested through a parser built here with ``add_parser``,
as the main command line registers it.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import json
import os
import warnings

import pytest
import torch

from quanttheory._cli.analyze import add_parser, run
from quanttheory.torch import analyze

safetensors_torch = pytest.importorskip("safetensors.torch")


def parse(*argv):
    parser = argparse.ArgumentParser(prog="quanttheory")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["analyze", *map(str, argv)])


def call(capsys, *argv):
    code = run(parse(*argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def checkpoint(tmp_path, cnn):
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_file(cnn.state_dict(), str(path))
    return path


def test_table_is_the_default(capsys, checkpoint):
    code, out, err = call(capsys, checkpoint)
    assert code == 0, err
    # issue 11: one default scheme, the Python API's ('paper')
    default = inspect.signature(analyze).parameters["scheme"].default
    assert default == "paper"
    assert f"5 weight tensor(s), 4 bits, scheme '{default}'" in out
    assert "conv2.weight" in out
    assert "skipped" in out  # biases and the BN counter


def test_csv_matches_the_python_api(capsys, checkpoint):
    code, out, _ = call(
        capsys, checkpoint, "--format", "csv", "--bits", "3", "--scheme", "paper"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    want = analyze(checkpoint, bits=3, scheme="paper").to_dict()
    assert [r["name"] for r in rows] == [w["name"] for w in want]
    assert [float(r["optimal_step"]) for r in rows] == [w["optimal_step"] for w in want]


def test_json_and_md(capsys, checkpoint):
    code, out, _ = call(capsys, checkpoint, "--format", "json", "--eps", "0.1")
    assert code == 0
    doc = json.loads(out)
    assert doc["eps"] == 0.1
    assert len(doc["rows"]) == 5
    code, out, _ = call(capsys, checkpoint, "--format", "md")
    assert code == 0
    assert "| name | shape |" in out


def test_out_file_is_written_atomically(capsys, tmp_path, checkpoint):
    target = tmp_path / "report.csv"
    code, out, err = call(capsys, checkpoint, "--format", "csv", "--out", target)
    assert code == 0
    assert out == ""
    assert "wrote 5 row(s)" in err
    assert target.read_text().startswith("name,channel,group,shape")
    assert not list(tmp_path.glob(".quanttheory-*"))  # no temporary left


def test_progress_bar_on_a_terminal(capsys, checkpoint, monkeypatch, cnn):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    code, _, err = call(capsys, checkpoint)
    assert code == 0
    n = len(cnn.state_dict())
    assert f"[{'#' * 30}] {n}/{n} " in err  # the full bar at the end
    assert err.count("\r") == n  # redrawn once per tensor
    code, _, err = call(capsys, checkpoint, "--no-progress")
    assert err == ""


def test_group_size_and_per_channel(capsys, tmp_path):
    path = tmp_path / "m.safetensors"
    torch.manual_seed(0)
    sd = {"a": torch.randn(6, 32), "b": torch.randn(4, 30)}
    safetensors_torch.save_file(sd, str(path))
    code, out, err = call(capsys, path, "--group-size", "16", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    want = analyze(path, group_size=16)
    assert [(r["name"], r["channel"], r["group"]) for r in rows] == [
        ("a", str(c), str(g)) for c in range(6) for g in range(2)
    ]
    assert [float(r["optimal_step"]) for r in rows] == [r.optimal_step for r in want]
    code, out, _ = call(capsys, path, "--group-size", "16")
    assert code == 0
    assert "12 row(s), one per group of 16 values of a channel" in out
    assert out.splitlines()[2].split()[:3] == ["name", "channel", "group"]
    code, out, _ = call(capsys, path, "--per-channel")
    assert "10 row(s), one per output channel" in out
    assert (
        json.loads(call(capsys, path, "--group-size", "16", "--format", "json")[1])[
            "group_size"
        ]
        == 16
    )


@pytest.mark.parametrize("bad", ["0", "-4", "x", "2.5"])
def test_bad_group_size_is_a_usage_error(capsys, checkpoint, bad):
    with pytest.raises(SystemExit) as exc:
        parse(checkpoint, "--group-size", bad)
    assert exc.value.code == 2
    assert "--group-size" in capsys.readouterr().err


def test_progress_bar_moves_within_a_large_tensor(capsys, tmp_path, monkeypatch):
    path = tmp_path / "big.safetensors"
    safetensors_torch.save_file({"w": torch.randn(400, 8)}, str(path))
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    code, _, err = call(capsys, path, "--per-channel")
    assert code == 0
    frames = err.split("\r")[1:]
    assert len(frames) > 2  # redrawn within the tensor, then at its end
    assert any("0/1  " in f and "% w" in f for f in frames[:-1])
    assert f"[{'#' * 30}] 1/1      w" in frames[-1]


def _bad_checkpoints(tmp_path):
    nan = tmp_path / "nan.safetensors"
    safetensors_torch.save_file({"w": torch.tensor([[1.0, float("nan")]])}, str(nan))
    intw = tmp_path / "int8.safetensors"
    safetensors_torch.save_file({"q": torch.ones(3, 3, dtype=torch.int8)}, str(intw))
    empty = tmp_path / "empty.safetensors"
    safetensors_torch.save_file({"bias": torch.ones(3)}, str(empty))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 16)
    garbage_pt = tmp_path / "garbage.pth"
    garbage_pt.write_bytes(b"not a zip")
    dynamic = tmp_path / "dynamic.pt"
    with warnings.catch_warnings():  # torch.ao is deprecated and warns
        warnings.simplefilter("ignore")
        net = torch.nn.Sequential(torch.nn.Linear(8, 4))
        qnet = torch.ao.quantization.quantize_dynamic(
            net, {torch.nn.Linear}, dtype=torch.qint8
        )
        torch.save(qnet.state_dict(), dynamic)
    return {
        "dynamic": (dynamic, "is already quantized"),
        "missing": (tmp_path / "missing.safetensors", "does not exist"),
        "unreadable": (garbage, "cannot read"),
        "unreadable_pt": (garbage_pt, "cannot read"),
        "nan": (nan, "tensor 'w' contains 1 NaN"),
        "non_float": (intw, "tensor 'q' has dtype int8"),
        "empty": (empty, "no weight tensor"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "unreadable", "unreadable_pt", "nan", "non_float", "empty", "dynamic"],
)
def test_bad_input_one_line_exit_2_nothing_written(capsys, tmp_path, case):
    path, message = _bad_checkpoints(tmp_path)[case]
    target = tmp_path / "out.csv"
    code, out, err = call(capsys, path, "--out", target)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("quanttheory analyze: error: ")
    assert message in lines[0]
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ("no/such.csv", "no' does not exist"),
        ("adir", "is a directory; give a file name"),
        ("fifo.csv", "is not a regular file (a device, pipe or socket)"),
        ("/dev/null", "is not a regular file (a device, pipe or socket)"),
    ],
)
def test_bad_out_is_a_usage_error_before_the_analysis(
    capsys, checkpoint, tmp_path, target, match
):
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "fifo.csv")
    code, out, err = call(capsys, checkpoint, "--out", tmp_path / target)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("quanttheory analyze: error: --out ")
    assert match in err


def test_out_write_failure_is_a_usage_error(capsys, checkpoint, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("quanttheory._cli.args.os.replace", fail)
    target = tmp_path / "out.csv"
    code, _, err = call(capsys, checkpoint, "--out", target)
    assert code == 2
    assert err == (
        f"quanttheory analyze: error: --out {target}: cannot write it "
        "(No space left on device)\n"
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "model.safetensors"]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--bits", "0"], "0 is not in 1..16"),
        # the command's limit is optimal_step's for samples (EMPIRICAL_MAX_BITS)
        (["--bits", "17"], "17 is not in 1..16 (the most for sample data)"),
        (["--bits", "x"], "'x' is not an integer"),
        (["--eps", "2"], "not in (0, 1)"),
        (["--scheme", "affine"], "invalid choice"),
        (["--format", "xml"], "invalid choice"),
    ],
)
def test_bad_options_are_usage_errors(capsys, argv, match):
    with pytest.raises(SystemExit) as exc:
        parse("m.safetensors", *argv)
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_out_dev_full_is_refused_and_left_alone(capsys, checkpoint):
    # before: exit 0, and (as root) the device node replaced by a regular file
    code, out, err = call(capsys, checkpoint, "--out", "/dev/full")
    assert (code, out) == (2, "")
    assert err == (
        "quanttheory analyze: error: --out /dev/full: is not a regular file "
        "(a device, pipe or socket)\n"
    )
    assert os.path.exists("/dev/full")
    assert not os.path.isfile("/dev/full")


def test_out_symlink_is_written_through(capsys, tmp_path, checkpoint):
    # before: the rename replaced the link by a regular file
    real = tmp_path / "real"
    real.mkdir()
    target = real / "rows.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    code, out, err = call(capsys, checkpoint, "--format", "csv", "--out", link)
    assert (code, out) == (0, "")
    assert f"wrote 5 row(s) to {link}" in err
    assert link.is_symlink()
    assert target.read_text().startswith("name,channel,group,shape")
    # nothing else anywhere: no temporary left in either directory
    assert sorted(p.name for p in real.iterdir()) == ["rows.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "link.csv",
        "model.safetensors",
        "real",
    ]


def test_bits_limit_is_the_empirical_limit(capsys):
    # one limit for the function and the command: 16 parses, and the core
    # refuses 17 bits on samples with the same bound
    import numpy as np

    import quanttheory as qt
    from quanttheory._core.checks import EMPIRICAL_MAX_BITS

    assert parse("m.safetensors", "--bits", str(EMPIRICAL_MAX_BITS)).bits == 16
    with pytest.raises(qt.InvalidArgument, match="bits=17"):
        qt.optimal_step(qt.Empirical(np.linspace(-1, 1, 100)), EMPIRICAL_MAX_BITS + 1)
