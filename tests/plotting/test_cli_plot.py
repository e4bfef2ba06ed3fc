"""``quanttheory plot`` (``quanttheory._cli_plot``), tested in-process.

The command is built the way the main command line builds it: a parser's
``add_subparsers()`` handed to :func:`add_parser`. Two parsers are used: a
plain :class:`argparse.ArgumentParser`, and one whose ``error`` raises (as
the ``quanttheory`` parser does), to check that argument errors are a single
line. Files are recognised by their magic bytes.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from quanttheory._cli import plot as _cli_plot

MAGIC = {
    ".png": b"\x89PNG\r\n\x1a\n",
    ".pdf": b"%PDF-",
    ".svg": b"<?xml",
}


class _Raising(argparse.ArgumentParser):
    """Like the main CLI's parser: usage errors raise instead of exiting."""

    def error(self, message):
        raise ValueError(f"{self.prog}: error: {message}")


def parser(cls=argparse.ArgumentParser):
    p = cls(prog="quanttheory")
    _cli_plot.add_parser(p.add_subparsers(dest="command", required=True))
    return p


def run(capsys, *argv, cls=argparse.ArgumentParser):
    args = parser(cls).parse_args(["plot", *argv])
    code = args.func(args, None)  # the main CLI's func(args, out) convention
    out, err = capsys.readouterr()
    return code, out, err


def assert_file(path, suffix):
    data = path.read_bytes()
    assert data.startswith(MAGIC[suffix]), data[:20]
    if suffix == ".svg":
        assert b"<svg" in data[:2000]


def test_defaults_alone_draw_a_sensitivity_figure(tmp_path, capsys, monkeypatch):
    # `quanttheory plot sensitivity --out s.png`, nothing else
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "sensitivity", "--out", "s.png")
    assert (code, err) == (0, "")
    assert out == "wrote s.png\n"
    assert_file(tmp_path / "s.png", ".png")


def test_parsed_defaults():
    args = parser().parse_args(["plot", "bits", "--out", "b.pdf"])
    assert args.kind == "bits"
    assert args.dist == ["uniform", "gaussian", "laplace", "t3"]
    assert args.bits == [2, 3, 4, 5, 6, 7, 8]
    assert args.reference_bits == 4
    args = parser().parse_args(["plot", "mse", "--out", "m.svg"])
    assert (args.bits, args.scheme, args.mc, args.seed, args.relative) == (
        [4],
        "paper",
        100_000,
        0,
        True,
    )
    args = parser().parse_args(["plot", "sensitivity", "--out", "s.png"])
    assert (args.mc, args.relative) == (200_000, False)
    args = parser().parse_args(["plot", "tensor", "--input", "w.npy", "--out", "t.png"])
    assert args.dist == ["gaussian", "laplace", "uniform"]


@pytest.mark.parametrize(
    ("kind", "suffix", "extra"),
    [
        ("mse", ".svg", ["--dist", "uniform,t3", "--bits", "3", "--mc", "0"]),
        ("mse", ".png", ["--no-relative", "--mc", "2000", "--scheme", "midrise"]),
        ("sensitivity", ".pdf", ["--dist", "laplace", "--relative", "--mc", "0"]),
        (
            "bits",
            ".png",
            ["--dist", "gaussian", "--bits", "2-4", "--reference-bits", "0"],
        ),
        ("bits", ".svg", ["--dist", "uniform,laplace", "--bits", "2,4,6"]),
    ],
)
def test_each_kind_writes_its_format(tmp_path, capsys, kind, suffix, extra):
    path = tmp_path / f"fig{suffix}"
    code, out, err = run(capsys, kind, "--out", str(path), *extra)
    assert (code, err) == (0, "")
    assert out == f"wrote {path}\n"
    assert_file(path, suffix)


def test_tensor_from_npy_and_npz(tmp_path, capsys):
    w = np.random.default_rng(0).normal(0, 0.1, size=(40, 30)).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    np.savez(tmp_path / "one.npz", weight=w)
    np.savez(tmp_path / "two.npz", weight=w, bias=w[0])
    for src, extra in [("w.npy", []), ("one.npz", []), ("two.npz", ["--key", "bias"])]:
        out_path = tmp_path / f"{src}.png"
        code, _, err = run(
            capsys,
            "tensor",
            "--input",
            str(tmp_path / src),
            "--out",
            str(out_path),
            "--bits",
            "3",
            "--log",
            *extra,
        )
        assert (code, err) == (0, ""), err
        assert_file(out_path, ".png")


def _bad_tensor_inputs(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan]))
    np.save(tmp_path / "const.npy", np.zeros(5))
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    np.savez(tmp_path / "two.npz", a=np.ones(3), b=np.ones(3))
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    (tmp_path / "w.csv").write_text("1,2,3\n")
    return [
        ("missing.npy", [], "no such file"),
        ("w.csv", [], "expected a .npy or .npz file"),
        ("junk.npy", [], "cannot read it as .npy"),
        ("obj.npy", [], "cannot read it as .npy"),
        ("text.npy", [], "is not numeric"),
        ("nan.npy", [], "non-finite"),
        ("const.npy", [], "constant"),
        ("two.npz", [], "holds 2 arrays (a, b); choose one with --key"),
        ("two.npz", ["--key", "c"], "has no array 'c'"),
    ]


def test_bad_tensor_inputs_are_one_line_exit_2(tmp_path, capsys):
    for name, extra, match in _bad_tensor_inputs(tmp_path):
        code, out, err = run(
            capsys,
            "tensor",
            "--input",
            str(tmp_path / name),
            "--out",
            str(tmp_path / "t.png"),
            *extra,
        )
        assert code == 2, name
        assert out == ""
        assert err.count("\n") == 1, err
        assert err.startswith("quanttheory plot tensor: error: --input")
        assert match in err, (name, err)
    assert not (tmp_path / "t.png").exists()


@pytest.mark.parametrize(
    ("out", "match"),
    [
        ("fig.jpg", "unsupported format ('.jpg'); use a .png, .svg or .pdf file name"),
        ("fig", "unsupported format (no suffix); use a .png, .svg or .pdf file name"),
        ("no/such/dir/fig.png", "directory 'no/such/dir' does not exist"),
    ],
)
def test_bad_output_paths_are_one_line_exit_2(
    tmp_path, capsys, monkeypatch, out, match
):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run(capsys, "mse", "--out", out, "--mc", "0")
    assert (code, stdout) == (2, "")
    assert err == f"quanttheory plot mse: error: --out {out}: {match}\n"


def test_output_directory_and_unwritable_file(tmp_path, capsys):
    (tmp_path / "d.png").mkdir()
    code, _, err = run(capsys, "mse", "--out", str(tmp_path / "d.png"), "--mc", "0")
    assert code == 2
    assert "is a directory" in err


def test_engine_rejections_are_exit_2(tmp_path, capsys):
    out = str(tmp_path / "m.png")
    code, _, err = run(
        capsys, "mse", "--out", out, "--scheme", "symmetric", "--bits", "1", "--mc", "0"
    )
    assert code == 2
    # the engine's own message (its upper bound on bits is the engine's
    # business, tests/core/test_errors.py), passed on in one line
    assert err.startswith(
        "quanttheory plot mse: error: optimal_step: bits=1 must be an integer "
    )
    assert err.count("\n") == 1
    code, _, err = run(capsys, "sensitivity", "--out", out, "--bits", "2,3")
    assert code == 2
    assert "takes one bit-width" in err
    code, _, err = run(capsys, "bits", "--out", out, "--bits", "4")
    assert code == 2
    assert "needs at least two bit-widths" in err


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (
            ["mse", "--out", "m.png", "--dist", "uniform,cauchy"],
            "'cauchy' is not one of uniform,gaussian,laplace,t3",
        ),
        (["mse", "--out", "m.png", "--bits", "x"], "'x' is not an integer"),
        (["bits", "--out", "m.png", "--bits", "8-2"], "is descending"),
        (["mse", "--out", "m.png", "--bits", "33"], "outside 1..32"),
        (["mse", "--out", "m.png", "--mc", "1"], "must be 0 (none) or at least 2"),
        (["mse", "--out", "m.png", "--dpi", "0"], "must be an integer >= 1"),
        (["mse", "--out", "m.png", "--scheme", "affine"], "invalid choice"),
        (["tensor", "--out", "t.png"], "--input"),
        (["mse"], "--out"),
        ([], "KIND"),
    ],
)
def test_bad_arguments_are_usage_errors(argv, match):
    # the main parser turns these into one line and exit code 2
    with pytest.raises(ValueError, match="error:") as info:
        parser(_Raising).parse_args(["plot", *argv])
    assert "\n" not in str(info.value)
    assert match in str(info.value)


def test_plain_argparse_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        parser().parse_args(["plot", "mse", "--out", "m.png", "--dist", "x"])
    assert info.value.code == 2
    assert "'x' is not one of" in capsys.readouterr().err


def test_laws_are_deduplicated_in_order():
    args = parser().parse_args(
        ["plot", "mse", "--out", "m.png", "--dist", " Laplace ,uniform,laplace"]
    )
    assert args.dist == ["laplace", "uniform"]


def test_out_through_a_symlink_writes_the_target(tmp_path, capsys):
    # the figure is rendered in memory and renamed into place on the link's
    # target; the link stays, and nothing else is left in either directory
    real = tmp_path / "real"
    real.mkdir()
    target = real / "fig.svg"
    link = tmp_path / "fig.svg"
    link.symlink_to(target)
    code, out, err = run(capsys, "mse", "--out", str(link), "--mc", "0", "--bits", "2")
    assert (code, err) == (0, "")
    assert out == f"wrote {link}\n"
    assert link.is_symlink()
    assert_file(target, ".svg")
    assert [p.name for p in real.iterdir()] == ["fig.svg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.svg", "real"]


def test_failed_write_leaves_no_file(tmp_path, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("quanttheory._cli.args.os.replace", full)
    path = tmp_path / "m.png"
    code, out, err = run(capsys, "mse", "--out", str(path), "--mc", "0", "--bits", "2")
    assert (code, out) == (2, "")
    assert err == (
        f"quanttheory plot mse: error: --out {path}: cannot write it "
        "(No space left on device)\n"
    )
    assert list(tmp_path.iterdir()) == []
