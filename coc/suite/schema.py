"""What a record of ``results.jsonl`` may hold: its fields' types, its statuses, its quality.

:func:`check_record` is the one gate every record passes on its way in, from a results
file or from a pytest-benchmark JSON, so that the tables, plots and ``coc compare``'s gate
downstream can trust each field's type and never fail on a hand-edited or damaged file.
"""
from __future__ import annotations

import math

from coc.utils.validation import CocError

#: A cell's outcome.
STATUSES = ("ok", "skipped", "failed")
#: The types each field of a record may hold (None allowed where listed).
_NUMBER = (int, float)
_FIELD_TYPES = {
    "backend": (str,), "op": (str,), "dtype": (str,), "n_samples": (int,), "dim": (int,),
    "k": (int, type(None)), "max_iter": (int, type(None)), "status": (str,),
}
_TIME_FIELDS = ("median_s", "min_s", "max_s", "iqr_s", "wall_s")
#: Fields a record may lack; where present, of these types (or null).
_OPTIONAL_TYPES = {
    "reason": (str,), "n_iter": (int,), "repeats": (int,), "peak_host_bytes": (int,),
    "peak_device_bytes": (int,), "host": (str,), "started_at": (str,), "worker": (str,),
    "device": (str,), "algorithm": (str,),
}
#: Quality fields holding text; every other quality field is a number or null.
_QUALITY_TEXT = ("note", "error")


def check_record(rec, where: str, *, recover: str = "") -> dict:
    """Check that ``rec`` is a record coc can use: a JSON object with every cell field, a
    known status, and non-negative finite times. Returns ``rec``.

    Raises
    ------
    CocError
        ``"{where}: ..."`` saying what is wrong, then ``recover``.
    """
    tail = f"; {recover}" if recover else ""
    if not isinstance(rec, dict):
        raise CocError(f"{where}: a JSON {json_type(rec)}, not a record (an object){tail}")
    for name, types in _FIELD_TYPES.items():
        if name not in rec:
            raise CocError(f"{where}: the record has no {name!r} field{tail}")
        value = rec[name]
        if int in types and isinstance(value, float) and value.is_integer():
            value = rec[name] = int(value)  # 1e6 written by hand: still a size
        if isinstance(value, bool) or not isinstance(value, types):
            raise CocError(f"{where}: field {name!r} is {_a(json_type(value))} ({value!r:.40}), "
                           f"expected {' or '.join(_json_type_name(t) for t in types)}{tail}")
    for name, types in _OPTIONAL_TYPES.items():
        value = rec.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise CocError(f"{where}: field {name!r} is {_a(json_type(value))} ({value!r:.40}), "
                           f"expected {_json_type_name(types[0])} or null{tail}")
    for name in ("n_samples", "dim"):
        if rec[name] < 1:
            raise CocError(f"{where}: {name} is {rec[name]}, expected an integer >= 1{tail}")
    if rec["status"] not in STATUSES:
        raise CocError(f"{where}: status {rec['status']!r} is not one of {', '.join(STATUSES)}{tail}")
    for name in _TIME_FIELDS:
        value = rec.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, _NUMBER) or not math.isfinite(value) or value < 0:
            raise CocError(f"{where}: {name} is {value!r:.40}, expected a finite number of seconds >= 0"
                           f"{tail}")
    if rec["status"] == "ok" and rec.get("median_s") is None:
        raise CocError(f"{where}: an ok record without median_s{tail}")
    times = rec.get("times_s", [])
    if times is not None and (not isinstance(times, list) or not all(
            isinstance(t, _NUMBER) and not isinstance(t, bool) and math.isfinite(t) and t >= 0 for t in times)):
        raise CocError(f"{where}: times_s must be a list of seconds >= 0{tail}")
    _check_quality(rec.get("quality"), where, tail)
    return rec


def _check_quality(quality, where: str, tail: str) -> None:
    """``quality`` is null or an object of numbers (or null), with text only in note and error."""
    if quality is None:
        return
    if not isinstance(quality, dict):
        raise CocError(f"{where}: field 'quality' is {_a(json_type(quality))} ({quality!r:.40}), "
                       f"expected an object or null{tail}")
    for name, value in quality.items():
        types, expected = ((str,), "a string") if name in _QUALITY_TEXT else (_NUMBER, "a number")
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise CocError(f"{where}: quality {name!r} is {_a(json_type(value))} ({value!r:.40}), "
                           f"expected {expected} or null{tail}")


def json_type(value) -> str:
    if value is None:
        return "null"
    return _json_type_name(type(value))


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _json_type_name(t) -> str:
    return {str: "string", int: "integer", float: "number", bool: "boolean", list: "list",
            dict: "object", type(None): "null"}.get(t, t.__name__)
