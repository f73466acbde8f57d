"""An API called with the wrong shape fails at the call, not later inside kfuzz.

A TypeError raised from inside the API escapes the module code that called it, so the
oops names that module line (core.py `oops`): "Oops: TypeError in FUNC". The message
names the API, what it got and what it takes. "got None" is written so, never with
Python's "NoneType", which the oops would read as a NULL pointer dereference.
"""

from __future__ import annotations


def shown(value: object) -> str:
    """A value as a misuse message shows it: its type and a short repr."""
    if value is None:
        return "None"
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{type(value).__name__} {text}"


def misuse(api: str, what: str, got: object, takes: str) -> TypeError:
    """`api: WHAT takes TAKES, got VALUE`, to raise."""
    return TypeError(f"{api}: {what} takes {takes}, got {shown(got)}")


def expect(api: str, what: str, value: object, types: type | tuple[type, ...], takes: str) -> None:
    """Raises the misuse unless `value` is one of `types`."""
    if not isinstance(value, types):
        raise misuse(api, what, value, takes)
