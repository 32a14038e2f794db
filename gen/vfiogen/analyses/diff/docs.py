"""Documentation: kernel-doc blocks and comments compared part by part,
summarised as words added and removed."""

from __future__ import annotations

import difflib

from vfiogen.ir.model import DocBlock


def doc_text(d: DocBlock | None) -> dict[str, str]:
    """A doc block's parts by name, whitespace-normalised."""
    if d is None:
        return {}
    parts = {"signature": d.signature, "summary": d.summary, "description": d.description}
    parts.update({f"@{k}": v for k, v in d.params.items()})
    parts.update({f"{k}:": v for k, v in d.sections.items()})
    return {k: " ".join(v.split()) for k, v in parts.items() if v.strip()}


def comment(text: str) -> dict[str, str]:
    """A field's or constant's comment as a one-part doc."""
    return {"comment": text}


def describe(old: dict[str, str], new: dict[str, str]) -> str | None:
    """A one-line summary of how a doc changed, or None when it did not."""
    if old == new:
        return None
    bits = []
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key, ""), new.get(key, "")
        if a == b:
            continue
        if not a:
            bits.append(f"{key} added")
        elif not b:
            bits.append(f"{key} removed")
        else:
            sm = difflib.SequenceMatcher(a=a.split(), b=b.split(), autojunk=False)
            plus = minus = 0
            for op, i1, i2, j1, j2 in sm.get_opcodes():
                if op != "equal":
                    minus += i2 - i1
                    plus += j2 - j1
            bits.append(f"{key} +{plus}/-{minus} words")
    return ", ".join(bits)
