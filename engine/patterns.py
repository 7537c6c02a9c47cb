"""Regular expressions from users, bounded in both phases where they can run away.

Matching runs with the regex module's timeout, which stops catastrophic
backtracking (`(a|aa)+$`). Compiling has no timeout, and the regex module
expands counted repeats when it compiles: `(?:(?:a{1000}){1000}){1000}` would
build a billion-node program. So a pattern is refused before it is compiled
when it is too long or when its counted repeats multiply past a bound.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import regex

from engine.i18n import _

MAX_PATTERN_LENGTH = 1000
MAX_PATTERN_SIZE = 10_000  # atoms once counted repeats are expanded: compiles in milliseconds
TIMEOUT_SECONDS = 0.1

# A counted repeat: {3}, {2,5}, {2,}, {,5}. Anything else after "{" is a literal brace.
_COUNTED = re.compile(r"\{(\d*)(?:,(\d*))?\}")
# Escapes whose argument is in braces, which is not a repeat: \p{L}, \N{DASH}, \x{263a}, \g{1}.
_BRACED_ESCAPES = frozenset("pPNxg")


class PatternError(ValueError):
    """A pattern that is malformed, too big to compile, or too slow to match."""


def search(pattern: str, text: str, timeout: float = TIMEOUT_SECONDS) -> bool:
    """True when `pattern` is found in `text`; PatternError when it cannot be decided in time."""
    return _run(_compile(pattern).search, pattern, text, timeout)


def fullmatch(pattern: str, text: str, timeout: float = TIMEOUT_SECONDS) -> bool:
    """True when `pattern` matches the whole of `text` (a field's `pattern:`), in time."""
    return _run(_compile(pattern).fullmatch, pattern, text, timeout)


def compiled(pattern: str) -> regex.Pattern[str]:
    """The compiled pattern (cached), for callers that match it many times with a timeout."""
    return _compile(pattern)


def check(pattern: str) -> None:
    """PatternError when `pattern` is malformed or too big: for definitions, at load time."""
    _compile(pattern)


def _run(method: Any, pattern: str, text: str, timeout: float) -> bool:
    try:
        return method(text, timeout=max(timeout, 0.001)) is not None
    except TimeoutError as exc:
        raise PatternError(
            _("the pattern %(pattern)s took too long", pattern=repr(pattern))
        ) from exc


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> regex.Pattern[str]:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(_("the pattern is longer than %(n)s characters", n=MAX_PATTERN_LENGTH))
    if size(pattern) > MAX_PATTERN_SIZE:
        raise PatternError(_("the pattern %(pattern)s repeats too much", pattern=repr(pattern)))
    try:
        return regex.compile(pattern)
    except (regex.error, RecursionError, OverflowError) as exc:
        raise PatternError(
            _("bad pattern %(pattern)s: %(error)s", pattern=repr(pattern), error=str(exc))
        ) from exc


def size(pattern: str) -> int:
    """An upper bound of the atoms `pattern` compiles to once its counted repeats are expanded.

    A conservative scan, not a parser: alternatives add up as if they were a sequence, and
    group syntax (`?:`, `?P<name>`) and braces that are no repeat count as atoms, so the
    bound is never too low.
    """
    groups = [0]  # running size of each open group, innermost last
    last = 0  # size of the atom a quantifier would apply to
    i = 0
    while i < len(pattern):
        char, step = pattern[i], 1
        if char == "(":
            groups.append(0)
            last = 0
        elif char in "*+?|":
            last = 0 if char == "|" else last
        elif char == "{" and (counted := _COUNTED.match(pattern, i)):
            low, high = counted.group(1), counted.group(2)
            times = max(int(low or 0), int(high or 0) if high is not None else 0, 1)
            groups[-1] += last * (times - 1)
            last *= times
            step = counted.end() - i
        else:
            if char == ")" and len(groups) > 1:
                last = max(groups.pop(), 1)
            elif char == "\\":
                step, last = _escape_length(pattern, i), 1
            elif char == "[":
                step, last = _class_length(pattern, i), 1
            else:
                last = 1
            groups[-1] += last
        if groups[-1] > MAX_PATTERN_SIZE:
            break  # enough to refuse it; the rest could hold any digits
        i += step
    return sum(groups)


def _escape_length(pattern: str, i: int) -> int:
    if i + 2 < len(pattern) and pattern[i + 1] in _BRACED_ESCAPES and pattern[i + 2] == "{":
        end = pattern.find("}", i + 3)
        return (end + 1 - i) if end != -1 else 2
    return 2


def _class_length(pattern: str, i: int) -> int:
    """Length of the character class starting at `i`, nested classes (regex V1) included."""
    depth = 0
    j = i
    while j < len(pattern):
        char = pattern[j]
        if char == "\\":
            j += 2
            continue
        if char == "[":
            depth += 1
            if pattern.startswith("^]", j + 1):
                j += 2
            elif pattern.startswith("]", j + 1):
                j += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return j + 1 - i
        j += 1
    return len(pattern) - i
