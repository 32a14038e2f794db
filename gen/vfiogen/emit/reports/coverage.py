"""The coverage and errata report: what the overlay leaves unannotated and
where the header's own comments disagree with the truth."""

from __future__ import annotations

from vfiogen.ir.model import Spec


def coverage_text(spec: Spec) -> str:
    cov = spec.coverage
    pct = 100.0 * cov.annotated / cov.requests if cov.requests else 100.0
    out = [f"{spec.source}: {cov.annotated}/{cov.requests} requests annotated ({pct:.0f}%)"]
    sections = (
        ("unannotated requests", cov.unannotated_requests),
        ("fields without a direction", cov.undirected_fields),
        ("capability ids without a registry entry", cov.uncovered_capabilities),
        ("variable-length tails without a descriptor", cov.untyped_tails),
        ("overlay entries that do not apply to this release", cov.not_applicable),
        (
            "macros that could not be evaluated",
            [f"{u.name} ({u.loc}): {u.reason}" for u in spec.unevaluated],
        ),
    )
    for title, items in sections:
        out.append(f"{title}: {len(items)}")
        out += [f"  {x}" for x in items]
    out.append(f"errata (header comments vs truth): {len(spec.errata)}")
    out += [
        f"  {e.loc}: {e.subject}: [{e.kind}] says {e.claim!r}; truth: {e.truth}"
        for e in spec.errata
    ]
    return "\n".join(out) + "\n"
