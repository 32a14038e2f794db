"""What the docs say of the hardware proof: on which kernel flavor and IOMMU
mode each request returned success through the generated runtime, which
errnos the tier saw (from its tests and its kernel fuzzer), and the fuzzer's
reach: how many of its random calls of each request succeeded."""

from __future__ import annotations

from vfiogen.emit.docs.names import Names
from vfiogen.emit.docs.view import Fact, ProofPage
from vfiogen.inputs.proof import FuzzReach, Proof, RequestProof
from vfiogen.ir.model import Spec

OK = "success"
NOT_RUN = "·"


def outcome(seen: RequestProof, run: str, why: dict[str, str] | None = None) -> str:
    """One cell: success and/or the errnos seen on that run; an errno the
    overlay explains (`why`: the request's errors) carries its reason on hover."""
    errnos = sorted(e for e, where in seen.errnos.items() if run in where)
    parts = ([OK] if run in seen.ok else []) + [_errno(e, why or {}) for e in errnos]
    return ", ".join(parts) if parts else NOT_RUN


def _errno(name: str, why: dict[str, str]) -> str:
    if name not in why:
        return name
    reason = " ".join(why[name].split()).replace("`", "'").replace("|", "\\|")
    return f"{{abbr}}`{name} ({reason})`"


def request_facts(proof: Proof | None, request: str) -> list[Fact]:
    """A request page's rows: every run where the request was seen (the
    page's Errors table, just above, says why each errno happens)."""
    if proof is None or request not in proof.requests:
        return []
    seen = proof.requests[request]
    facts = [Fact(run, outcome(seen, run)) for run in proof.runs() if outcome(seen, run) != NOT_RUN]
    for flavor, per_request in proof.fuzz.items():
        if request in per_request:
            facts.append(Fact(f"{flavor}/fuzzer", reach_text(per_request[request], long=True)))
    return facts


def reach_text(reach: FuzzReach | None, long: bool = False) -> str:
    """The fuzzer's successes out of its calls of one request."""
    if reach is None:
        return NOT_RUN
    if long:
        return f"{reach.ok} of {reach.calls} random calls succeeded"
    return f"{reach.ok} / {reach.calls}"


def proof_page(spec: Spec, names: Names, proof: Proof) -> ProofPage:
    """The matrix: every request of the spec against every run of the tier."""
    runs = proof.runs()
    rows = []
    proven = 0
    for name in sorted(spec.requests):
        seen = proof.requests.get(name, RequestProof())
        proven += bool(seen.ok)
        why = spec.requests[name].errors
        reach = [reach_text(proof.fuzz[f].get(name)) for f in proof.fuzz]
        rows.append([names.request(name)] + [outcome(seen, run, why) for run in runs] + reach)
    return ProofPage(
        proof.source,
        runs + [f"{f} fuzzer" for f in proof.fuzz],
        rows,
        proven,
        len(spec.requests),
        bool(proof.fuzz),
    )
