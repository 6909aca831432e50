"""A long command's finished steps, kept in its output folder so that a rerun resumes."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from coc.io.outputs import atomic_write_bytes, os_reason
from coc.utils.validation import CocError


class Checkpoint:
    """The finished steps of a long command, kept in its output folder so that a rerun resumes.

    ``.NAME.partial.jsonl`` holds the configuration on its first line, then one finished step
    a line (``{"step": key, "value": ...}``), each appended and flushed as it finishes. A
    rerun with the same configuration takes the steps found there; another configuration,
    or a file that cannot be read, starts afresh (a line cut short by an interruption is
    dropped). :meth:`finish` removes the file once the outputs are written.

    Parameters
    ----------
    folder : path
        The command's output folder.
    name : str
    config : dict
        Everything a step's value depends on, as JSON values.
    """

    def __init__(self, folder, name: str, config: dict):
        self.path = Path(folder) / f".{name}.partial.jsonl"
        self.config = json.loads(json.dumps(config))  # tuples as lists: as it reads back
        self.done = self._read()
        self._file = None

    def _read(self) -> dict:
        try:
            lines = self.path.read_bytes().split(b"\n")
            if json.loads(lines[0]) != {"config": self.config}:
                return {}
        except (OSError, ValueError, RecursionError):
            return {}
        done = {}
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                done[entry["step"]] = entry["value"]
            except (ValueError, RecursionError, KeyError, TypeError):
                continue  # an empty last line, or one cut short
        return done

    def put(self, step: str, value) -> None:
        """Record a finished step (JSON values only).

        Raises
        ------
        CocError
            The file cannot be written (a full disk, say), naming it.
        """
        line = json.dumps({"step": step, "value": value}) + "\n"
        try:
            if self._file is None:  # the file afresh: this configuration and the steps so far
                head = [{"config": self.config}] + [{"step": s, "value": v} for s, v in self.done.items()]
                atomic_write_bytes(self.path, "".join(json.dumps(e) + "\n" for e in head).encode())
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()
        except OSError as e:
            raise CocError(f"{self.path}: cannot keep a finished step ({os_reason(e)})") from None
        self.done[step] = value

    def finish(self) -> None:
        """The outputs are written: the steps are not needed again."""
        if self._file is not None:
            self._file.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
