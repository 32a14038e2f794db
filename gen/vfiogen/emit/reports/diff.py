"""Presentation of diff reports and release histories.

Python builds a view (plain dicts and lists: grouping, counts, verdict, row
order all decided here) and a Jinja template in `vfiogen.templates/diff/`
only lays it out; JSON is serialized directly. The HTML page is one file with
its style inline, summary first.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from vfiogen import __version__
from vfiogen.emit.templating import render
from vfiogen.analyses.diff.model import CHANGES, ENTITIES, SEVERITIES, Change, Report
from vfiogen.analyses.history import History
from vfiogen.emit.reports.formats import FORMATS as FORMATS

TEMPLATE_SUFFIX = {"text": "txt.j2", "markdown": "md.j2", "html": "html.j2"}
HISTORY_ORDER = (
    "request",
    "type",
    "field",
    "constant",
    "enumerator",
    "flag",
    "flag set",
    "capability",
)


def _render(kind: str, fmt: str, view: dict[str, Any]) -> str:
    return render(f"diff/{kind}.{TEMPLATE_SUFFIX[fmt]}", **view)


# --- diff -----------------------------------------------------------------------


def diff_view(report: Report) -> dict[str, Any]:
    """Rows grouped by severity; entries that differ only in their ABI are
    shown once with the list of ABIs."""
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SEVERITIES}
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    for c in report.changes:
        key = (c.entity, c.name, c.change, c.severity, c.detail)
        row = merged.get(key)
        if row is None:
            what, _, why = c.detail.partition("; ")
            row = merged[key] = {
                "entity": c.entity,
                "name": c.name,
                "change": c.change,
                "severity": c.severity,
                "abis": [],
                "what": what,
                "why": why,
                "detail": c.detail,
            }
            rows[c.severity].append(row)
        row["abis"].append(c.abi)
    for sev_rows in rows.values():
        for row in sev_rows:
            abis = row.pop("abis")
            row["abi"] = "" if None in abis else ", ".join(abis)
    # People count rows (an entry shown once for several ABIs is one row).
    every = [r for rs in rows.values() for r in rs]
    counts = {s: len(rows[s]) for s in SEVERITIES}
    table = []
    for entity in ENTITIES:
        per = {
            ch: sum(1 for r in every if (r["entity"], r["change"]) == (entity, ch))
            for ch in CHANGES
        }
        broken = sum(1 for r in rows["breaking"] if r["entity"] == entity)
        if any(per.values()):
            table.append({"entity": entity, **per, "breaking": broken})
    verdict = (
        "breaking" if counts["breaking"] else ("compatible" if report.changes else "identical")
    )
    return {
        "old": report.old,
        "new": report.new,
        "abis": report.abis,
        "notes": report.notes,
        "counts": counts,
        "total": len(report.changes),
        "verdict": verdict,
        "entities": table,
        "sections": [
            {"severity": s, "title": s.capitalize(), "rows": rows[s]} for s in SEVERITIES if rows[s]
        ],
        "width": max((len(r["name"]) for rs in rows.values() for r in rs), default=10),
        "generator": f"vfiogen {__version__}",
    }


def render_diff(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), indent=1) + "\n"
    return _render("report", fmt, diff_view(report))


def changes_from_json(data: dict[str, Any]) -> list[Change]:
    """The inverse of `Report.to_json`'s change list (for tools and tests)."""
    return [Change(**c) for c in data["changes"]]


def plural(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


# --- history --------------------------------------------------------------------


def history_view(
    history: History, names: list[str] | None = None, exact: dict[str, str] | None = None
) -> dict[str, Any]:
    """Per release: what appeared and what vanished, by entity. With `names`:
    one row per matching entity. `exact`: request -> the overlay's precise
    kernel version where it refines the pinned one."""
    exact = exact or {}

    def rank(e: Any) -> tuple[int, str]:
        return (HISTORY_ORDER.index(e.entity) if e.entity in HISTORY_ORDER else 99, e.name)

    def grouped(entries: list[Any]) -> list[dict[str, Any]]:
        out: dict[str, list[str]] = {}
        for e in sorted(entries, key=rank):
            out.setdefault(e.entity, []).append(e.name)
        return [{"entity": k, "label": plural(len(v), k), "names": v} for k, v in out.items()]

    releases = []
    for i, r in enumerate(history.releases):
        added = history.introduced(r)
        removed = history.removed(r) if i else []
        releases.append(
            {
                "release": r,
                "baseline": i == 0,
                "added": grouped(added),
                "removed": grouped(removed),
                "n_added": len(added),
                "n_removed": len(removed),
                "count": sum(1 for e in history.entries.values() if r in e.present),
            }
        )
    selected = []
    if names is not None:
        for n in names:
            for e in sorted(history.find(n), key=rank):
                selected.append(
                    {
                        "kind": e.kind,
                        "entity": e.entity,
                        "name": e.name,
                        "since": e.since,
                        "until": e.until,
                        "exact": exact.get(e.name) if e.kind == "request" else None,
                        "present": e.present,
                        "gaps": e.gaps,
                        "baseline": e.since == history.releases[0],
                    }
                )
    return {
        "releases": releases,
        "names": history.releases,
        "oldest": history.releases[0],
        "total": len(history.entries),
        "query": names is not None,
        "selected": selected,
        "generator": f"vfiogen {__version__}",
    }


def render_history(
    history: History,
    fmt: str,
    names: list[str] | None = None,
    exact: dict[str, str] | None = None,
) -> str:
    view = history_view(history, names, exact)
    if fmt == "json":
        entries = (
            view["selected"]
            if names is not None
            else [
                {
                    "kind": e.kind,
                    "entity": e.entity,
                    "name": e.name,
                    "since": e.since,
                    "until": e.until,
                    "exact": (exact or {}).get(e.name) if e.kind == "request" else None,
                    "present": e.present,
                }
                for e in history.entries.values()
            ]
        )
        for e in entries:
            e.pop("baseline", None)
            e.pop("gaps", None)
        return json.dumps({"releases": history.releases, "entries": entries}, indent=1) + "\n"
    return _render("history", fmt, view)
