"""Writing results safely: atomic files, several outputs all or nothing, modes that respect the umask.

A reader never sees a half-written file: each output is written to a hidden temporary file
in its own folder, flushed, then renamed over the target. :func:`write_outputs` does this for
several files at once: it stages every one before it renames any, and when a rename fails
midway it puts the old files back, so a folder holds either all the old outputs or all the
new ones. :func:`check_outputs_writable` lets a command refuse a bad output path *before* its
work starts, naming the option (``--out``, ``--plot``, ``--labels-out``) the path came from.
Paths are taken as the file system will resolve them (``a/new/../x`` is ``a/x``). An output
that is a stream (a FIFO, a character device such as ``/dev/null``, or a link to a process's
file descriptor such as ``/dev/stdout``) cannot be replaced: it is written into, once the
files are in place; a stream cannot be unwritten, so it is written last.

A new file gets the mode ``0o666 & ~umask`` (what ``open(path, "w")`` would give); a replaced
file keeps its mode.
"""
from __future__ import annotations

import errno
import io
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from coc.utils.validation import CocError

_TMP_SUFFIX = ".tmp"
_BAK_SUFFIX = ".bak"


# -- modes --------------------------------------------------------------------------------
def current_umask() -> int:
    """The process umask, read without changing it where ``/proc`` allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is set and restored at once
    (``os.umask`` has no read-only form).
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def new_file_mode() -> int:
    """Mode of a newly created file: ``0o666`` less the umask, as ``open()`` creates it."""
    return 0o666 & ~current_umask()


# -- checks before the work ------------------------------------------------------------
def os_reason(e: OSError) -> str:
    """The reason of an OSError in a few lower-case words (``permission denied``)."""
    if e.errno == errno.ELOOP:
        return "symlink loop"
    return e.strerror.lower() if e.strerror else str(e)


def _nearest_existing(path: Path) -> Path:
    p = path
    while True:
        try:
            os.lstat(p)
            return p
        except (FileNotFoundError, NotADirectoryError):
            if p.parent == p:
                return p
            p = p.parent
        except OSError:
            return p


def _probe_folder(folder: Path) -> None:
    """Create and remove a temporary file in ``folder``: the one sure test that we can write.

    ``os.access`` says yes to root on a read-only mount and under ``/proc``.
    """
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".coc-probe.", suffix=_TMP_SUFFIX)
    os.close(fd)
    os.unlink(tmp)


def _check_folder(folder: Path, label: str) -> None:
    """``folder`` exists or can be made, and a file can be created in it; else one CocError."""
    p = _nearest_existing(folder)
    try:
        st = os.stat(p)
    except OSError as e:
        raise CocError(f"{label}: {p}: {os_reason(e)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise CocError(f"{label}: {p} exists and is not a folder")
    try:
        _probe_folder(p)
    except OSError as e:
        raise CocError(f"{label}: cannot create files in {p} ({os_reason(e)})") from None


def check_writable_dir(path, *, option: str = "--out") -> Path:
    """Fail early, before any work, when ``path`` cannot become a folder we write into.

    Creates nothing that stays: the nearest existing folder at or above ``path`` is probed
    with a temporary file (``os.access`` says yes to root on a read-only mount or ``/proc``).
    """
    path = Path(path)
    _check_folder(path, f"{option} {path}")
    return path


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name one existing file (links and ``..`` included)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (yet), or a name NUL-broken
        return False


def check_outputs_writable(paths, option: str = "--out", *, inputs=()) -> list[Path]:
    """Check, before any work, that every file in ``paths`` can be written.

    Parameters
    ----------
    paths : iterable of path, or dict of path -> option
        The output files. A dict names the option each path came from.
    option : str
        The option named in the error when ``paths`` is not a dict.
    inputs : iterable of path
        Files the command reads: an output that is one of them (by another name, a link
        included) is refused, since writing it would destroy the input.

    Returns
    -------
    list of Path

    Raises
    ------
    CocError
        One line naming the option and the path: a folder in the way, a parent that is a
        file, a folder where no file can be created (permissions, read-only or virtual
        file system such as ``/proc``), an input file, a block device or a socket, a stream
        that cannot be written.
    """
    items = paths.items() if isinstance(paths, dict) else [(p, option) for p in paths]
    inputs = list(inputs)
    checked = []
    for path, opt in items:
        path = Path(path)
        label = f"{opt} {path}"
        target = write_target(path)  # as the write will resolve it
        if any(same_file(target, given) for given in inputs):
            raise CocError(f"{label}: that is an input file; choose another {opt}")
        try:
            st = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            st = None  # the folder check below says which part is missing or not a folder
        except OSError as e:
            raise CocError(f"{label}: {os_reason(e)}") from None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise CocError(f"{label}: is a folder, where a file is to be written; move it "
                           f"away or choose another {opt}")
        if _is_stream(path, label):
            if not os.access(target, os.W_OK):
                raise CocError(f"{label}: not writable")
        else:
            _check_folder(target.parent, label)
        checked.append(path)
    return checked


def write_target(path: Path) -> Path:
    """``path`` with its folder resolved as the file system will (``a/new/../x`` is ``a/x``
    once ``new`` is made, so nothing is made for it); its own name is kept, so that a link
    there is replaced, not the file it points to."""
    return Path(os.path.realpath(path.parent)) / path.name


def _is_stream(path, label: str) -> bool:
    """Whether ``path`` is written into rather than replaced: a character device or a FIFO,
    or a link to a process's file descriptor (``/dev/stdout`` is one, whatever it points at).

    Raises
    ------
    CocError
        ``label``, then why, for a block device or a socket.
    """
    target = write_target(Path(path))
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return False
    if stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise CocError(f"{label}: is a {'device' if stat.S_ISBLK(mode) else 'socket'}; choose a file")
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    try:
        return os.readlink(target).startswith(("/proc/", "/dev/fd/"))
    except OSError:  # not a link
        return False


# -- several outputs, all or nothing -------------------------------------------------------
def _write_payload(f, payload) -> None:
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        f.write(payload)
    elif callable(payload):
        payload(f)
    else:
        raise TypeError(f"an output is bytes, str or a callable writing to a binary file, "
                        f"got {type(payload).__name__}")


def _unlink_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_outputs(outputs, *, option: str = "--out") -> list[Path]:
    """Write several files so that either all are replaced or none is.

    Parameters
    ----------
    outputs : dict of path -> bytes, str or callable
        What to write to each path: bytes, text (written as UTF-8), or a callable that
        writes to the binary file object it is given (``lambda f: fig.savefig(f, ...)``).
    option : str or dict of path -> str
        The option named in error messages (``--out``), or the option of each path
        (``{plot: "--plot", labels: "--labels-out"}``).

    Returns
    -------
    list of Path
        The paths written, in the order given.

    Raises
    ------
    CocError
        When any output cannot be written; the old files (if any) are then left in place and
        no temporary file remains.

    Notes
    -----
    First every file is staged as a hidden temporary file next to its target (mode of
    the file it replaces, or ``0o666 & ~umask``). Then each existing target is kept as a
    hidden hard-linked backup and the temporary files are renamed over the targets. If a
    rename fails, the targets already replaced are restored from their backups (new files
    removed); the backups are removed at the end. Streams (FIFOs, character devices, links to
    a file descriptor such as ``/dev/stdout``) are written into last, after the renames; if
    one fails, the files are put back, but a stream already written cannot be.
    """
    items = [(Path(p), payload) for p, payload in outputs.items()]
    if isinstance(option, dict):
        options = {Path(p): opt for p, opt in option.items()}
        option_of = lambda path: options.get(path, "--out")  # noqa: E731
    else:
        option_of = lambda path: option  # noqa: E731
    staged: list[tuple[Path, Path, str]] = []  # (as given, as the file system resolves it, temp)
    streams = []
    try:
        for path, payload in items:
            if _is_stream(path, f"cannot write {path} ({option_of(path)})"):
                streams.append((path, payload))
            else:
                target = write_target(path)
                staged.append((path, target, _stage(path, target, payload, option_of(path))))
    except BaseException:
        for _, _, tmp in staged:
            _unlink_quietly(tmp)
        raise
    _commit(staged, option_of, streams)
    return [path for path, _ in items]


def _stage(path: Path, target: Path, payload, option: str) -> str:
    """Write ``payload`` to a hidden temporary file beside ``target`` (``path`` as resolved);
    errors name ``path`` as given."""
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as e:
        raise CocError(f"cannot write {path} ({option}): {os_reason(e)}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise CocError(f"cannot write {path} ({option}): is a folder")
    mode = stat.S_IMODE(st.st_mode) if st is not None else new_file_mode()
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    except OSError as e:
        raise CocError(f"cannot write {path} ({option}): {os_reason(e)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            _write_payload(f, payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
    except BaseException as e:
        _unlink_quietly(tmp)
        if isinstance(e, OSError):
            raise CocError(f"cannot write {path} ({option}): {os_reason(e)}") from None
        raise
    return tmp


def _backup(path: Path) -> str | None:
    """A hidden hard link to the current ``path`` (None when there is no file to keep)."""
    if not os.path.lexists(path):
        return None
    # A name that does not exist yet: os.link refuses to overwrite, so no race can clobber one.
    bak = tempfile.mktemp(dir=path.parent, prefix=f".{path.name}.", suffix=_BAK_SUFFIX)
    try:
        os.link(path, bak, follow_symlinks=False)
    except OSError as e:
        if e.errno == errno.EEXIST:
            raise
        shutil.copy2(path, bak, follow_symlinks=False)  # a file system without hard links
    return bak


def _commit(staged, option_of, streams=()) -> None:
    """Rename the staged files over their targets, then write the streams; on a failure the
    files are put back (a stream already written stays written)."""
    done: list[tuple[Path, str | None]] = []
    backups: list[str] = []
    failed = None
    try:
        for path, target, tmp in staged:
            failed = path
            bak = _backup(target)
            if bak is not None:
                backups.append(bak)
            os.replace(tmp, target)
            done.append((target, bak))
        for path, payload in streams:
            failed = path
            # appended: what went before on that descriptor (``>> log``, a printed table) stays
            with open(write_target(path), "ab") as f:
                _write_payload(f, payload)
    except BaseException as e:
        for target, bak in reversed(done):
            try:
                if bak is None:
                    os.unlink(target)
                else:
                    os.replace(bak, target)
            except OSError:
                pass
        for _, _, tmp in staged:
            _unlink_quietly(tmp)
        for bak in backups:
            _unlink_quietly(bak)
        if isinstance(e, OSError):
            raise CocError(f"cannot write {failed} ({option_of(failed)}): {os_reason(e)}; "
                           "the previous files were left in place") from None
        raise
    for bak in backups:
        _unlink_quietly(bak)
    for folder in {target.parent for _, target, _ in staged}:
        _fsync_dir(folder)


def _fsync_dir(folder) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def figure_writer(fig, fmt: str, **kwargs):
    """A payload for :func:`write_outputs` that saves a matplotlib figure in ``fmt``."""
    def write(f):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, **kwargs)
        f.write(buf.getvalue())
    return write


def json_bytes(obj) -> bytes:
    """``obj`` as the JSON text coc writes (indented, one trailing newline)."""
    return (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode("utf-8")


# -- one file -------------------------------------------------------------------------------
def atomic_write_bytes(path, data: bytes, *, option: str = "--out") -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    return write_outputs({path: data}, option=option)[0]


def atomic_write_text(path, text: str, *, option: str = "--out") -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), option=option)


def atomic_write_json(path, obj, *, option: str = "--out") -> Path:
    return atomic_write_bytes(path, json_bytes(obj), option=option)


def atomic_save_figure(fig, path, *, option: str = "--out", **kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the suffix of ``path``)."""
    path = Path(path)
    return atomic_write_bytes(path, figure_writer(fig, path.suffix.lstrip(".") or "png", **kwargs),
                              option=option)
