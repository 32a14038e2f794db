"""[fd_kinds.NAME]: how a program meets an fd kind (where the fd comes from,
the call order of its requests), for the docs' fd pages."""

from __future__ import annotations

from typing import Any

from vfiogen.ir.model import FD_KINDS, CallPhase, FdKindInfo
from vfiogen.overlay.checks import Checks

KEYS = {"title", "opened", "example", "phases", "since", "until"}
PHASE_KEYS = {"title", "requests"}


def fd_kind(m: Checks, name: str, entry: Any) -> None:
    """[fd_kinds.NAME]: a phase may name only requests of this overlay;
    those the header lacks (since/until) are left out."""
    path = ("fd_kinds", name)
    e = m.check_keys(entry, KEYS, path)
    kind = m.choice({"kind": name}, "kind", FD_KINDS, path)
    if kind is None or not m.applies(e):
        return
    texts = {}
    for key in ("title", "opened", "example"):
        if not isinstance(e.get(key), str):
            raise m.fail(path + (key,), f"fd kind {name} needs a string '{key}'")
        texts[key] = e[key]
    phases = []
    for i, phase in enumerate(e.get("phases", [])):
        p = m.check_keys(phase, PHASE_KEYS, path + ("phases",))
        if not isinstance(p.get("title"), str) or not isinstance(p.get("requests"), list):
            raise m.fail(path + ("phases",), f"phase {i} needs a title and a request list")
        for req in p["requests"]:
            if req not in m.data.get("requests", {}):
                raise m.fail(
                    path + ("phases",),
                    f"phase {p['title']!r} names {req!r}, not a request here",
                )
        present = [r for r in p["requests"] if r in m.spec.requests]
        phases.append(CallPhase(p["title"], present))
    m.spec.fd_kinds[kind] = FdKindInfo(
        kind, m.loc(path), texts["title"], texts["opened"], texts["example"], phases
    )
