"""Requests: matched by name, renames by fd kind, numbers and argument type;
a number that passes from one request to another is a reuse."""

from __future__ import annotations

from vfiogen.analyses.diff import facts as f
from vfiogen.analyses.diff import rules
from vfiogen.analyses.diff.context import Findings, Sides
from vfiogen.analyses.diff.docs import doc_text, describe
from vfiogen.analyses.diff.reading import fd_of
from vfiogen.analyses.diff.renames import renames, similar
from vfiogen.analyses.diff.text import fmt, per_abi_text
from vfiogen.ir.model import Request


def compare_requests(s: Sides, out: Findings) -> None:
    o, n = s.old.requests, s.new.requests
    removed = [k for k in o if k not in n]
    added = [k for k in n if k not in o]

    def identity(r: Request) -> tuple[object, ...]:
        return (fd_of(r), tuple(r.numbers[a] for a in s.abis), r.arg_type)

    old_ids = {x: identity(o[x]) for x in removed}
    new_ids = {y: identity(n[y]) for y in added}
    renamed = renames(
        removed, added, lambda x, y: similar(x, y) if old_ids[x] == new_ids[y] else None
    )
    new_name_of = {v: k for k, v in renamed.items()}
    reuse = number_reuse(s, renamed)
    for name, req in n.items():
        if name in o:
            _changed(s, out, o[name], req, reuse.get(name, {}))
        elif name in new_name_of:
            x = new_name_of[name]
            out.add(rules.REQUEST_RENAMED, f.Renaming(name, x), name, f"new name of {x}")
        else:
            per: dict[str, tuple[f.RequestAddition, str] | None] = {}
            for abi in s.abis:
                was = reuse.get(name, {}).get(abi)
                number = fmt(req.numbers[abi])
                what = (
                    f"number {number} on the {fd_of(req)} fd was {was} in OLD"
                    if was
                    else f"new request on the {fd_of(req)} fd, number {number}"
                )
                per[abi] = (f.RequestAddition(name, was), what)
            out.add_per_abi(rules.REQUEST_ADDED, name, per)
    for name in removed:
        other = renamed.get(name)
        what = (
            f"renamed to {other} with the same number"
            if other
            else f"number {per_abi_text({a: o[name].numbers[a] for a in s.abis})} is gone"
        )
        out.add(rules.REQUEST_REMOVED, f.Renaming(name, other), name, what)
    for name, req in n.items():
        # iommufd.h documents a request on its struct; that doc is compared there.
        if name in o and (req.doc is None or req.doc.name == name):
            out.doc(name, describe(doc_text(o[name].doc), doc_text(req.doc)))


def number_reuse(s: Sides, renamed: dict[str, str]) -> dict[str, dict[str, str]]:
    """Requests of NEW whose number (on one fd kind) belonged to another
    request in OLD that no longer answers to it: new name -> abi -> old name."""
    out: dict[str, dict[str, str]] = {}
    for abi in s.abis:
        before = {(fd_of(r), r.numbers[abi]): r.name for r in s.old.requests.values()}
        for r in s.new.requests.values():
            prev = before.get((fd_of(r), r.numbers[abi]))
            if prev is None or prev == r.name or renamed.get(prev) == r.name:
                continue
            still = s.new.requests.get(prev)
            if still is not None and still.numbers[abi] == r.numbers[abi]:
                continue  # both share the number in NEW as in OLD: not a reuse
            out.setdefault(r.name, {})[abi] = prev
    return out


def _changed(s: Sides, out: Findings, o: Request, n: Request, reuse: dict[str, str]) -> None:
    name = n.name
    if any(o.numbers[a] != n.numbers[a] for a in s.abis):
        per: dict[str, tuple[f.Nothing, str] | None] = {}
        for a in s.abis:
            extra = f", the number of {reuse[a]} in OLD" if a in reuse else ""
            what = f"number {fmt(o.numbers[a])} -> {fmt(n.numbers[a])}{extra}"
            per[a] = (f.NOTHING, what) if o.numbers[a] != n.numbers[a] else None
        out.add_per_abi(rules.REQUEST_NUMBER, name, per)
    if o.fd and n.fd and o.fd != n.fd:
        out.add(rules.REQUEST_FD, f.NOTHING, name, f"fd kind {o.fd} -> {n.fd}")
    if o.arg and n.arg and o.arg != n.arg:
        out.add(rules.REQUEST_ARG, f.NOTHING, name, f"argument kind {o.arg} -> {n.arg}")
    if o.arg_type and n.arg_type and o.arg_type != n.arg_type:
        same = s.same_layout(o.arg_type, n.arg_type)
        what = f"argument type {o.arg_type} -> {n.arg_type}"
        out.add(rules.REQUEST_ARG_TYPE, f.Retyping(same), name, what)
    results: tuple[tuple[str, str | None, str | None], ...] = (
        ("result", o.result, n.result),
        ("result fd", o.result_fd, n.result_fd),
    )
    for part, before, after in results:
        if before and after and before != after:
            out.add(rules.REQUEST_RESULT, f.NOTHING, name, f"{part} {before} -> {after}")
    if o.argsz and n.argsz and o.argsz != n.argsz:
        out.add(rules.REQUEST_ARGSZ, f.NOTHING, name, f"argsz convention {o.argsz} -> {n.argsz}")
    _minsz(s, out, o, n)
    for field, d in n.directions.items():
        od = o.directions.get(field)
        if od and od != d:
            what = f"direction of {field} {od} -> {d}"
            out.add(rules.REQUEST_DIRECTION, f.DirectionChange(od, d), name, what)
    for gate, was, now in (
        ("CHECK_EXTENSION gate", o.extension, n.extension),
        ("capability scope", o.caps, n.caps),
    ):
        if was != now and (was or now):
            out.add(
                rules.REQUEST_GATE,
                f.NOTHING,
                name,
                f"{gate} {was or '(none)'} -> {now or '(none)'}",
            )


def _minsz(s: Sides, out: Findings, o: Request, n: Request) -> None:
    """The minimum argsz is offsetofend(minsz field): a larger one rejects
    old callers."""
    if not (o.minsz and n.minsz and o.arg_type and n.arg_type):
        return
    if o.arg_type not in s.old.records or n.arg_type not in s.new.records:
        return
    om = s.old_members(o.arg_type).get(o.minsz)
    nm = s.new_members(n.arg_type).get(n.minsz)
    if om is None or nm is None:
        return
    per: dict[str, tuple[f.SizeChange, str] | None] = {}
    for a in s.abis:
        change = f.SizeChange(sum(om.layout[a]), sum(nm.layout[a]))
        what = f"minimum argsz {change.before} -> {change.after}"
        if change.grew:
            what += f" (through {n.minsz})"
        per[a] = (change, what) if change.before != change.after else None
    out.add_per_abi(rules.REQUEST_MINSZ, n.name, per)
