"""What the subcommands of the command line share: argument types, the usage
error and the exit status, and the checks and writes of output files.

Exit status
-----------
Every command returns :data:`EXIT_OK` (0) on success, :data:`EXIT_FAILED`
(1) when ``verify`` found a failed check, and :data:`EXIT_USAGE` (2) for a
usage error: bad arguments (those the engine rejects included), an input
that cannot be read, an output file that cannot be written or that is a
special file (a directory, device, pipe or socket). A usage error is raised
as :class:`UsageError` and reported by :func:`usage_exit`, in one line on
standard error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_POLICY",
    "EXIT_USAGE",
    "MAX_BITS",
    "UsageError",
    "check_seed",
    "output_file",
    "parse_bits",
    "usage_exit",
    "write_bytes",
    "write_text",
]

#: Largest bit-width that ``--bits`` accepts.
MAX_BITS = 32

#: Exit status: success.
EXIT_OK = 0
#: Exit status: ``verify`` found a failed check.
EXIT_FAILED = 1
#: Exit status: a usage error (bad arguments, unwritable output, special file).
EXIT_USAGE = 2
#: The exit status policy in one sentence, for the help texts.
EXIT_POLICY = (
    f"Exit status: {EXIT_OK} on success, {EXIT_FAILED} if verify found a failed "
    f"check, {EXIT_USAGE} for a usage error (bad arguments, an unreadable input, "
    "an output file that cannot be written or is a special file), reported in "
    "one line on standard error."
)


class UsageError(Exception):
    """A usage error of a command: exit status 2, one line on standard error.

    Parameters
    ----------
    message : str
        What is wrong, usually starting with the option (``--out x.png: ...``);
        line breaks and runs of spaces become single spaces.
    prog : str, optional
        The command to name in the message (``quanttheory table``); by default
        the one that :func:`usage_exit` is given.
    """

    def __init__(self, message, prog: str | None = None) -> None:
        super().__init__(" ".join(str(message).split()))
        self.prog = prog


def usage_exit(error: Exception, prog: str) -> int:
    r"""Report a usage error on standard error and return :data:`EXIT_USAGE`.

    Parameters
    ----------
    error : UsageError or QuantTheoryError
        The error; a :class:`~quanttheory.QuantTheoryError` is an argument
        that the engine rejected.
    prog : str
        The command, unless ``error`` names its own (:attr:`UsageError.prog`).

    Returns
    -------
    int
        :data:`EXIT_USAGE`.

    Examples
    --------
    >>> import contextlib, io
    >>> from quanttheory._cli.args import UsageError, usage_exit
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     code = usage_exit(UsageError("--bits: 0 is\n outside 1..32"), "quanttheory")
    >>> code, err.getvalue()
    (2, 'quanttheory: error: --bits: 0 is outside 1..32\n')
    """
    prog = getattr(error, "prog", None) or prog
    print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
    return EXIT_USAGE


def output_file(option: str, text: str, suffixes=(), atomic: bool = False) -> Path:
    """Check an output file argument before any work is done.

    A symbolic link is followed: the checks apply to the file it points to,
    which is the one written (:func:`write_text` keeps the link).

    Parameters
    ----------
    option : str
        The option, for the message (``--out``).
    text : str
        The file name as given.
    suffixes : sequence of str
        The accepted suffixes, lower case (any if empty).
    atomic : bool
        The file is written to a temporary file in its directory and renamed
        into place (:func:`write_text`), so the directory must be writable.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    UsageError
        For a suffix not in ``suffixes``, a directory that does not exist, a
        path that is a directory or another special file (device, pipe,
        socket), or a file or directory without write permission.

    Examples
    --------
    >>> from quanttheory._cli.args import UsageError, output_file
    >>> output_file("--out", "fig.png", (".png", ".pdf")).name
    'fig.png'
    >>> for name, suffixes in [("fig.jpg", (".png", ".pdf")), ("/dev/null", ())]:
    ...     try:
    ...         output_file("--out", name, suffixes)
    ...     except UsageError as exc:
    ...         print(exc)
    --out fig.jpg: unsupported format ('.jpg'); use a .png or .pdf file name
    --out /dev/null: is not a regular file (a device, pipe or socket)
    """
    path = Path(text)
    where = f"{option} {text}"
    if suffixes and path.suffix.lower() not in suffixes:
        given = f"'{path.suffix}'" if path.suffix else "no suffix"
        names = suffixes[-1]
        if len(suffixes) > 1:
            names = ", ".join(suffixes[:-1]) + " or " + names
        raise UsageError(
            f"{where}: unsupported format ({given}); use a {names} file name"
        )
    target = _target(path)
    parent = target.parent
    if not parent.is_dir():
        link = "" if target == path else f" of the link's target '{target}'"
        raise UsageError(f"{where}: directory '{parent}'{link} does not exist")
    if target.is_dir():
        raise UsageError(f"{where}: is a directory; give a file name")
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UsageError(f"{where}: cannot write it ({exc.strerror or exc})") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise UsageError(f"{where}: is not a regular file (a device, pipe or socket)")
    writable = os.access(target, os.W_OK) if mode is not None else True
    if atomic or mode is None:
        writable = writable and os.access(parent, os.W_OK | os.X_OK)
    if not writable:
        raise UsageError(f"{where}: cannot write it (permission denied)")
    return path


def _target(path: Path) -> Path:
    """``path`` with its symbolic links resolved (the file that is written)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def write_text(option: str, path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file, then a rename.

    A failed write leaves neither a partial file nor the temporary one.
    Through a symbolic link the link's target is written and the link is
    kept; a file that exists keeps its permission bits.

    Raises
    ------
    UsageError
        If the file cannot be written (``option`` names it in the message).
    """
    write_bytes(option, path, text.encode("utf-8"))


def write_bytes(option: str, path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, as :func:`write_text` does.

    Raises
    ------
    UsageError
        If the file cannot be written (``option`` names it in the message).
    """
    shown = os.fspath(path)
    target = os.fspath(_target(Path(shown)))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _cannot_write(option, shown, exc) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        # checked by output_file; a file that changed since is refused too,
        # never replaced by a regular file
        raise UsageError(
            f"{option} {shown}: is not a regular file (a device, pipe or socket)"
        )
    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".quanttheory-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _cannot_write(option, shown, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if st is not None:
                mode = stat.S_IMODE(st.st_mode)
            else:
                # the mode that open() gives a new file, not mkstemp's 0o600
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _cannot_write(option, shown, exc) from None
        raise


def _cannot_write(option: str, path: str, exc: OSError) -> UsageError:
    return UsageError(f"{option} {path}: cannot write it ({exc.strerror or exc})")


def check_seed(text: str) -> int:
    """Parse ``--seed``: a non-negative integer, as numpy's generators take.

    Examples
    --------
    >>> from quanttheory._cli.args import check_seed
    >>> check_seed("42")
    42
    >>> check_seed("-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: seed=-1 must be a non-negative integer
    """
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed={text!r} is not an integer") from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"seed={seed} must be a non-negative integer")
    return seed


def parse_bits(spec: str) -> list[int]:
    r"""Parse a bit-width list such as ``"4"``, ``"1-8"`` or ``"2,4,8"``.

    Items are separated by commas; each is an integer or an ascending range
    ``lo-hi`` (both ends included). The result is sorted, without duplicates.

    Parameters
    ----------
    spec : str
        The ``--bits`` argument.

    Returns
    -------
    list of int
        Bit-widths, each in ``1..32``.

    Raises
    ------
    argparse.ArgumentTypeError
        For an empty item, a non-integer, a descending range, or a bit-width
        outside ``1..32``; the message names the offending item.

    Examples
    --------
    >>> from quanttheory._cli.args import parse_bits
    >>> parse_bits("1-4,8")
    [1, 2, 3, 4, 8]
    >>> parse_bits("8,2,2")
    [2, 8]
    >>> parse_bits("8-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: bits='8-1': range 8-1 is descending; write 1-8
    """
    out: set[int] = set()
    for raw in spec.split(","):
        item = raw.strip()
        lo_s, dash, hi_s = item.partition("-")
        try:
            lo = int(lo_s)
            hi = int(hi_s) if dash else lo
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"bits={spec!r}: {item!r} is not an integer or a range lo-hi "
                "(examples: 4, 1-8, 2,4,8)"
            ) from None
        if lo > hi:
            raise argparse.ArgumentTypeError(
                f"bits={spec!r}: range {item} is descending; write {hi}-{lo}"
            )
        for b in (lo, hi):
            if not 1 <= b <= MAX_BITS:
                raise argparse.ArgumentTypeError(
                    f"bits={spec!r}: {b} is outside 1..{MAX_BITS}"
                )
        out.update(range(lo, hi + 1))
    return sorted(out)
