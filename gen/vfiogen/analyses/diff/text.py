"""How values read in a change's description: numbers, per-ABI values, and
one text for several ABIs."""

from __future__ import annotations

from typing import Any, Callable


def fmt(v: int | str | None) -> str:
    if isinstance(v, int):
        return str(v) if -10 < v < 10 else f"{v:#x}"
    return repr(v)


def per_abi_text(values: dict[str, Any], render: Callable[[Any], str] = fmt) -> str:
    """One value, or the first ABI's with the others that differ in parentheses."""
    abis = list(values)
    first = values[abis[0]]
    others = [f"{a} {render(values[a])}" for a in abis[1:] if values[a] != first]
    return render(first) + (f" ({', '.join(others)})" if others else "")


def merge_texts(texts: dict[str, str]) -> str:
    """One text for several ABIs: the first ABI's, with the other ABIs' words
    in parentheses where they differ ("size 16 -> 24 (i386: 20)")."""
    abis = list(texts)
    first = texts[abis[0]].split(" ")
    words = {a: texts[a].split(" ") for a in abis}
    if any(len(w) != len(first) for w in words.values()):
        others = [f"{a}: {texts[a]}" for a in abis[1:] if texts[a] != texts[abis[0]]]
        return texts[abis[0]] + (f" ({', '.join(others)})" if others else "")
    out = []
    for i, tok in enumerate(first):
        core = tok.rstrip(",;:)")
        alts = [f"{a}: {words[a][i].rstrip(',;:)')}" for a in abis[1:] if words[a][i] != tok]
        out.append(f"{core} ({', '.join(alts)}){tok[len(core):]}" if alts else tok)
    return " ".join(out)
