"""The reference docs' registries: constants grouped by the field that takes
them, capability chains, device features, header errata, and the changelog
from the since/until the release history wrote into the spec.
"""

from __future__ import annotations

from vfiogen.emit.docs.names import Names, loc_text, release_text, value_text
from vfiogen.emit.docs.types import anon_enum_title, type_word
from vfiogen.emit.docs.view import (
    ChangeGroup,
    ConstantGroup,
    ConstantView,
    ErratumView,
    ReleaseChanges,
    ScopeView,
)
from vfiogen.emit.docs.myst import code, linked, slug, text
from vfiogen.ir.query import members
from vfiogen.inputs.releases import version_key
from vfiogen.ir.model import Constant, Spec


def constant_groups(spec: Spec, names: Names) -> list[ConstantGroup]:
    groups: list[ConstantGroup] = []
    done: set[str] = set()
    for vs in spec.value_sets.values():
        if vs.kind == "enum":
            continue
        consts = [
            _constant_view(spec, spec.constants[n], vs.kind, None)
            for n in vs.members
            if n in spec.constants and spec.constants[n].kind == "macro" and n not in done
        ]
        done.update(c.name for c in consts)
        if consts:
            groups.append(
                ConstantGroup(
                    names.values_label(vs.id),
                    f"{vs.kind.capitalize()} of {vs.id}",
                    vs.kind,
                    None,
                    [_field_ref(spec, names, f) for f in vs.fields],
                    consts,
                )
            )
    for key, en in spec.enums.items():
        scope = en.tag or "@" + slug(key.split(":", 1)[-1]).replace("-", "_")
        consts = [
            _constant_view(spec, spec.constants[n], "enum", scope)
            for n in en.enumerators
            if n in spec.constants and n not in done
        ]
        done.update(c.name for c in consts)
        linked_set = spec.value_sets.get(en.values or "")
        groups.append(
            ConstantGroup(
                names.enum_label(key),
                f"enum {en.tag}" if en.tag else anon_enum_title(key),
                "enum",
                scope,
                [_field_ref(spec, names, f) for f in (linked_set.fields if linked_set else [])],
                consts,
            )
        )
    by_header: dict[str, list[ConstantView]] = {}
    for c in spec.constants.values():
        if c.name not in done:
            by_header.setdefault(c.loc.file, []).append(_constant_view(spec, c, "values", None))
    for header, consts in by_header.items():
        groups.append(
            ConstantGroup(
                "macros-" + slug(header), f"Other macros of {header}", "macros", None, [], consts
            )
        )
    fms = [
        ConstantView(
            fm.name,
            "c:macro",
            f"{fm.name}({', '.join(fm.params)})",
            code(fm.body),
            "",
            "",
        )
        for fm in spec.function_macros.values()
    ]
    if fms:
        groups.append(
            ConstantGroup(
                "function-macros", "Function-like macros", "function macros", None, [], fms
            )
        )
    return groups


def _field_ref(spec: Spec, names: Names, key: str) -> str:
    rec, _, fname = key.partition(".")
    if rec in spec.records and not spec.records[rec].anonymous:
        return names.member(rec, fname) + f" of {names.record(rec)}"
    return code(key)


def _constant_view(spec: Spec, c: Constant, kind: str, scope: str | None) -> ConstantView:
    return ConstantView(
        c.name,
        "c:enumerator" if scope else "c:macro",
        f"{scope}.{c.name}" if scope else c.name,
        code(value_text(c, kind)),
        text(c.doc),
        release_text(spec, c.since, c.until),
    )


def registries(spec: Spec, names: Names) -> tuple[list[ScopeView], list[list[str]], list[str]]:
    scopes = []
    for sc in spec.scopes.values():
        rows = [
            [
                names.constant(c.name),
                str(c.id),
                str(c.version),
                type_word(spec, names, c.type) if c.type else "(header only)",
                text(release_text(spec, c.since, c.until)),
            ]
            for c in spec.capabilities.values()
            if c.scope == sc.name
        ]
        scopes.append(
            ScopeView(
                "caps-" + slug(sc.name),
                sc.name,
                names.request(sc.request),
                names.record(sc.header),
                (
                    names.member(spec.requests[sc.request].arg_type or "", sc.offset)
                    if sc.request in spec.requests
                    else code(sc.offset)
                ),
                names.constant(sc.flag),
                rows,
            )
        )
    features = [
        [
            names.constant(f.name),
            str(f.index),
            ", ".join(code(o) for o in f.ops),
            type_word(spec, names, f.type) if f.type else "(none)",
            names.fd(f.result_fd) if f.result_fd else "",
            text(release_text(spec, f.since, f.until)),
        ]
        for f in spec.features.values()
    ]
    carriers = sorted(
        {r.name for r in spec.requests.values() if r.arg_type in _feature_records(spec)}
    )
    return scopes, features, [names.request(n) for n in carriers]


def _feature_records(spec: Spec) -> set[str]:
    return {t.record for t in spec.tails.values() if t.selector == "feature"}


def errata_views(spec: Spec, names: Names) -> list[tuple[str, ErratumView]]:
    out = []
    for e in spec.errata:
        kw, _, ident = e.subject.partition(" ")
        subject = (
            names.request(e.subject)
            if e.subject in spec.requests
            else (f"{kw} {names.record(ident)}" if ident in spec.records else code(e.subject))
        )
        out.append(
            (
                e.subject,
                ErratumView(
                    subject, loc_text(e.loc), e.kind, code(e.claim), linked(e.truth, names.link)
                ),
            )
        )
    return out


def changelog(spec: Spec, names: Names) -> tuple[list[ReleaseChanges], str]:
    """Per release (newest first): what appeared and what vanished, from the
    since/until the history wrote into the spec."""
    events: dict[str, dict[str, list[str]]] = {}

    def add(release: str | None, what: str, markup: str) -> None:
        if release:
            events.setdefault(release, {}).setdefault(what, []).append(markup)

    for r in spec.requests.values():
        add(r.since, "requests added", names.request(r.name))
        add(r.until, "requests removed", code(r.name))
    for rec in spec.records.values():
        if rec.anonymous:
            continue
        add(rec.since, "types added", names.record(rec.name))
        add(rec.until, "types removed", code(rec.name))
        for m in members(rec, spec.records, spec.abis).values():
            if m.field.since != rec.since:
                add(m.field.since, "fields added", names.member(rec.name, m.name))
            add(m.field.until, "fields removed", code(f"{rec.name}.{m.name}"))
    for c in spec.constants.values():
        add(c.since, "constants added", names.constant(c.name))
        add(c.until, "constants removed", code(c.name))
    for cap in spec.capabilities.values():
        add(cap.since, "capabilities added", names.constant(cap.name))
    for f in spec.features.values():
        add(f.since, "device features added", names.constant(f.name))
    releases = sorted(events, key=version_key, reverse=True)
    if spec.history:
        note = (
            f"From the release history over {len(spec.history)} pinned releases "
            f"({', '.join(spec.history)}); {spec.history[0]} is the oldest, so what it lists "
            f"was there at or before {spec.history[0]}."
        )
    else:
        note = (
            "No release history was computed for this spec (`vfiogen history "
            "--write-spec`), so since/until are unknown except the overlay's kernel "
            "versions of some requests, listed here."
        )
    order = [
        "requests added",
        "requests removed",
        "types added",
        "types removed",
        "fields added",
        "fields removed",
        "constants added",
        "constants removed",
        "capabilities added",
        "device features added",
    ]
    out = [
        ReleaseChanges(rel, [ChangeGroup(w, events[rel][w]) for w in order if w in events[rel]])
        for rel in releases
    ]
    return out, note
