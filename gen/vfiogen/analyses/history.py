"""Release history: in which pinned release each entity appeared and vanished.

Every pinned release is compiled once; an entity's `until` is the first
release after its last appearance (None while the newest has it) and its
`since` the first release from which every pin up to that last appearance
has it, the convention of the overlay's since/until. An entity that also
appears earlier, apart (`gaps`: a stable-series backport such as Debian's
6.12.y carrying iommufd fields of 6.16, or a removal undone), keeps those
releases in `present` but not in `since`: a kernel at `since` or later is
one that has it.
Pinned releases sample the kernel's history, so `since` is "at or before"
that release: equal to the oldest pin it means "at or before 4.19", and
where the overlay names the exact kernel version of a request (a version
between the previous pin and this one) that more precise value is kept,
with the two pins that bracket it as its evidence (`Request.since_pinned`).
`dated` gives a copy of a spec with the result, so bindings and docs can show it.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Iterable

from vfiogen import cache
from vfiogen import pipeline as compiler
from vfiogen import spec_keys
from vfiogen.inputs import releases
from vfiogen.inputs import sources
from vfiogen.ir.query import entity_of, members
from vfiogen.inputs.releases import version_key
from vfiogen.ir.model import Spec

HISTORY_CACHE = "history"
KINDS = ("request", "type", "field", "constant", "value_set", "capability")


@dataclass(slots=True)
class Entry:
    kind: str  # one of KINDS: the namespace the name lives in
    name: str  # for a field "type.field"; for an enum type its tag
    entity: str  # the diff's vocabulary, as of its newest appearance
    present: list[str] = field(default_factory=list)  # releases that have it, oldest first
    since: str = ""
    until: str | None = None
    gaps: bool = False  # absent from a release between its first and last appearance


@dataclass(slots=True)
class History:
    releases: list[str]
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> Entry | None:
        return self.entries.get((kind, name))

    def find(self, name: str) -> list[Entry]:
        """Every entry with this name, whatever its kind."""
        return [e for (k, n), e in self.entries.items() if n == name]

    def introduced(self, release: str) -> list[Entry]:
        return [e for e in self.entries.values() if e.since == release]

    def removed(self, release: str) -> list[Entry]:
        return [e for e in self.entries.values() if release in self._gone_at(e)]

    def _gone_at(self, e: Entry) -> list[str]:
        """Releases at which e was present in the previous release and is absent."""
        out = []
        for prev, cur in zip(self.releases, self.releases[1:]):
            if prev in e.present and cur not in e.present:
                out.append(cur)
        return out


def presence(spec: Spec) -> dict[tuple[str, str], str]:
    """(kind, name) -> entity label for everything one spec declares."""
    out: dict[tuple[str, str], str] = {}
    abis = spec.abis[:1]
    for name in spec.requests:
        out[("request", name)] = "request"
    for name, rec in spec.records.items():
        if rec.anonymous:
            continue
        out[("type", name)] = "type"
        for m in members(rec, spec.records, abis):
            out[("field", f"{name}.{m}")] = "field"
    for en in spec.enums.values():
        if en.tag:
            out[("type", en.tag)] = "type"
    for name, c in spec.constants.items():
        out[("constant", name)] = entity_of(spec, c)
    for name in spec.function_macros:
        out[("constant", name)] = "constant"
    for vs_id in spec.value_sets:
        out[("value_set", vs_id)] = "flag set"
    for name in spec.capabilities:
        out[("capability", name)] = "capability"
    for name in spec.features:
        out[("capability", name)] = "capability"
    return out


def compute(specs: Iterable[tuple[str, Spec]]) -> History:
    """The history over (release, spec) pairs given oldest first."""
    ordered = list(specs)
    history = History([r for r, _ in ordered])
    for release, spec in ordered:
        for key, entity in presence(spec).items():
            e = history.entries.get(key)
            if e is None:
                e = history.entries[key] = Entry(key[0], key[1], entity)
            e.entity = entity
            e.present.append(release)
    index = {r: i for i, r in enumerate(history.releases)}
    for e in history.entries.values():
        last = index[e.present[-1]]
        first = last
        while first > 0 and history.releases[first - 1] in e.present:
            first -= 1
        e.since = history.releases[first]
        e.until = history.releases[last + 1] if last + 1 < len(history.releases) else None
        e.gaps = e.present[0] != e.since
    return history


def compile_pin(name: str, quiet: bool = True) -> Spec:
    """One pinned release compiled (fetched first if it is not cached)."""
    return compiler.compile_spec(sources.from_release(name, quiet=quiet), warn=False)


def compile_pins(quiet: bool = True) -> list[tuple[str, Spec]]:
    """Every pinned release compiled once."""
    return [(name, compile_pin(name, quiet)) for name in releases.load_pins()]


def of_pins(quiet: bool = True) -> History:
    """The history of all pinned releases. It is kept in the user cache under
    the cache keys of every pin's compiled spec, so it is reused exactly as
    long as each of those specs would be (one read instead of one per pin)."""
    keys = spec_keys.pin_keys(quiet)
    entry = cache.digest("history", *[k for k in keys if k]) if all(keys) else None
    payload = cache.read(HISTORY_CACHE, entry) if entry else None
    if payload is not None:
        try:
            cached = pickle.loads(payload)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            cached = None  # checksummed, yet unreadable: written by a broken run
        if isinstance(cached, History):
            return cached
    history = compute(compile_pins(quiet))
    if entry:
        cache.write(HISTORY_CACHE, entry, pickle.dumps(history, pickle.HIGHEST_PROTOCOL))
    return history


def dated(compiled: Spec, history: History) -> tuple[Spec, list[str]]:
    """A copy of `compiled` with since/until from `history`, and the conflicts
    between the overlay's versions and the observed history (history wins).
    The compiled spec itself is left as it is."""
    # a pickle round trip is a deep copy, 10x faster than copy.deepcopy on a Spec
    spec: Spec = pickle.loads(pickle.dumps(compiled, pickle.HIGHEST_PROTOCOL))
    conflicts: list[str] = []
    spec.history = list(history.releases)

    def span(kind: str, name: str) -> tuple[str | None, str | None]:
        e = history.get(kind, name)
        return (e.since, e.until) if e is not None else (None, None)

    for name, req in spec.requests.items():
        since, until = span("request", name)
        req.since = _precise(history, "since", name, req.since, since, conflicts)
        req.until = _precise(history, "until", name, req.until, until, conflicts)
        req.since_pinned = _bracket(history, name) if req.since != since else []
    for name, rec in spec.records.items():
        if rec.anonymous:
            continue
        rec.since, rec.until = span("type", name)
        for mname, m in members(rec, spec.records, spec.abis[:1]).items():
            m.field.since, m.field.until = span("field", f"{name}.{mname}")
    for en in spec.enums.values():
        if en.tag:
            en.since, en.until = span("type", en.tag)
    for name, c in spec.constants.items():
        c.since, c.until = span("constant", name)
    for vs_id, vs in spec.value_sets.items():
        vs.since, vs.until = span("value_set", vs_id)
    for name, cap in spec.capabilities.items():
        cap.since, cap.until = span("capability", name)
    for name, feat in spec.features.items():
        feat.since, feat.until = span("capability", name)
    return spec, conflicts


def exact_since(compiled: Spec, history: History) -> tuple[dict[str, str], list[str]]:
    """The requests whose `since` the overlay states more exactly than the
    pins (name -> version), and the conflicts: what `dated` would write for
    requests, without copying the spec."""
    exact: dict[str, str] = {}
    conflicts: list[str] = []
    for name, req in compiled.requests.items():
        e = history.get("request", name)
        if e is None:
            continue
        since = _precise(history, "since", name, req.since, e.since, conflicts)
        _precise(history, "until", name, req.until, e.until, conflicts)
        if since and since != e.since:
            exact[name] = since
    return exact, conflicts


def _bracket(history: History, name: str) -> list[str]:
    """[newest pin without the request, oldest pin with it] ("" when no
    older pin exists): the evidence for an exact `since` the overlay gives."""
    e = history.get("request", name)
    if e is None:
        return []
    at = history.releases.index(e.since)
    return [history.releases[at - 1] if at else "", e.since]


def _precise(
    history: History,
    which: str,
    name: str,
    overlay: str | None,
    observed: str | None,
    conflicts: list[str],
) -> str | None:
    """The overlay's exact kernel version when it lies within what the pins
    observed (after the previous pin, at or before this one), else the pin."""
    e = history.get("request", name)
    if overlay is None or e is None:
        return observed if e is not None else overlay  # unpinned: nothing to check
    rel = history.releases
    if which == "since":
        lo = rel[rel.index(e.since) - 1] if rel.index(e.since) > 0 else None
        hi: str | None = e.since
    else:
        lo, hi = e.present[-1], e.until
    v = version_key(overlay)
    if (lo is None or version_key(lo) < v) and (hi is None or v <= version_key(hi)):
        return overlay
    conflicts.append(
        f"{name}: overlay says {which} {overlay}, pinned releases show "
        f"{which} {observed or '(still present)'}"
    )
    return observed
