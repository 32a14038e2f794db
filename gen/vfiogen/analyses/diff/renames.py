"""The one rename detector: which name only OLD has is the same entity as a
name only NEW has. Each entity kind says what makes two of its entities
the same (a score, or None when they cannot be); this pairs them."""

from __future__ import annotations

import difflib
from typing import Callable, Iterable

# Below this name similarity, equal values alone do not make a rename.
RENAME_SIMILARITY = 0.6

Score = Callable[[str, str], "float | None"]


def similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(a=a, b=b, autojunk=False).ratio()


def best_match(name: str, candidates: Iterable[str], score: Score) -> str | None:
    """The candidate that scores highest against `name` (the first on a tie),
    or None when none scores."""
    best: str | None = None
    best_score = 0.0
    for y in candidates:
        s = score(name, y)
        if s is not None and (best is None or s > best_score):
            best, best_score = y, s
    return best


def renames(removed: Iterable[str], added: list[str], score: Score) -> dict[str, str]:
    """Removed name -> added name, in the order of `removed`; each added name
    is taken at most once."""
    out: dict[str, str] = {}
    if not added:
        return out
    taken: set[str] = set()
    for x in removed:
        y = best_match(x, (y for y in added if y not in taken), score)
        if y is not None:
            out[x] = y
            taken.add(y)
    return out
