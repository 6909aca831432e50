"""One writer per folder: an exclusive lock file held with ``flock`` for a whole run."""
from __future__ import annotations

import datetime
import errno
import fcntl
import os
import socket
from pathlib import Path

from coc.io.outputs import os_reason
from coc.utils.validation import CocError


class FolderLock:
    """An exclusive lock on a folder for one run: a lock file held with ``flock``.

    The lock file names its holder (pid, host, start time) so that a second run can say who
    holds it. The kernel drops the lock when the holder's process ends, however it ends
    (a crash or SIGKILL included), so a lock is never stuck; the file itself stays.

    Parameters
    ----------
    folder : path
        The folder to lock (it must exist).
    name : str
        The lock file's name inside ``folder``.
    what : str
        What the holder is, for the message (``coc sweep``).
    option : str
        The option that named the folder, for the message (``--out``).

    Raises
    ------
    CocError
        When another process holds the lock, or the lock file cannot be made.
    """

    def __init__(self, folder, *, name: str = ".lock", what: str = "coc", option: str = "--out"):
        self.folder = Path(folder)
        self.path = self.folder / name
        self.what = what
        self.option = option
        self._fd = None

    def acquire(self) -> "FolderLock":
        try:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except PermissionError:
                # Someone else's lock file: flock works on a read-only descriptor too.
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise CocError(f"{self.option} {self.folder}: cannot create the lock file {self.path} "
                           f"({os_reason(e)})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise CocError(
                    f"{self.option} {self.folder} is in use by another {self.what} ({holder}); wait for "
                    f"it to finish, or give another {self.option}") from None
            raise CocError(f"{self.option} {self.folder}: cannot lock {self.path} ({os_reason(e)})") from None
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        text = f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, text, 0)
        except OSError:
            pass  # the lock holds without its note
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def _read_holder(fd) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "holder unknown"
