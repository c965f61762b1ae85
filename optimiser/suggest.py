"""'Did you mean' for misspelt commands, fields and ids.

Kept free of the rest of the package so the input checks and the command line can both use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.6
"""difflib's similarity ratio a suggestion needs: below it a guess misleads more than it helps."""


def suggest(value: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """The valid names closest to `value`, best first; empty when none is close.

    A case-insensitive exact match comes first, so 'Pyongyang' finds 'pyongyang'."""
    options = [str(v) for v in valid]
    folded = {v.casefold(): v for v in options}
    exact = [folded[value.casefold()]] if value.casefold() in folded else []
    close = difflib.get_close_matches(value.casefold(), list(folded), n=n, cutoff=CUTOFF)
    found = exact + [folded[c] for c in close if folded[c] not in exact]
    return found[:n]


def did_you_mean(value: str, valid: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest valid name, or '' when none is close."""
    found = suggest(value, valid, n=2)
    if not found:
        return ""
    return " (did you mean " + " or ".join(f"'{f}'" for f in found) + "?)"
