"""The numbers the reference docs compute, checked against gcc rather than
against the spec they were rendered from: a request's minimum size is
offsetofend(its struct, its minsz field) on every ABI (the end of that
field, not its start), and a request's number sits in its own row of the
"Request number" table, for exactly the ABIs of that row."""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path

import pytest

import gccprobe
from support import RELEASES, release_source, release_spec, require_compiler
from vfiogen.emit.docs import build as docs
from vfiogen.ir.abi import DEFAULT_ABIS

NEWEST = RELEASES[-1]
ROOT = Path(__file__).parents[2]
MINSZ = re.compile(
    r"^- \*\*minimum size\*\*: up to and including \{c:member\}`(\w+) <([\w.]+)>`: (.*)$", re.M
)


@functools.lru_cache(maxsize=None)
def pages() -> dict[str, str]:
    return docs.render_docs(release_spec(NEWEST))


@functools.lru_cache(maxsize=None)
def gcc_facts(abi: str) -> dict[str, int]:
    """offset and size of every minsz field, and every request number, from gcc."""
    spec = release_spec(NEWEST)
    types: dict[str, dict] = {}
    for r in spec.requests.values():
        if r.minsz and r.arg == "struct" and r.arg_type in spec.records:
            rec = spec.records[r.arg_type]
            t = types.setdefault(rec.name, {"kind": rec.kind, "fields": {}})
            t["fields"][r.minsz] = {"size": 1}
    view = {"types": types, "constants": {name: 0 for name in spec.requests}}
    return gccprobe.run(release_source(NEWEST), abi, view)


def per_abi(cell: str, pattern: str) -> dict[str, int]:
    """'16 bytes (x86_64, i386); 20 bytes (aarch64)' -> {abi: 16, ...}."""
    out = {}
    for m in re.finditer(pattern + r" \(([\w, ]+)\)", cell):
        for abi in m.group(2).split(", "):
            assert abi not in out, f"{abi} listed twice in {cell!r}"
            out[abi] = int(m.group(1), 0)
    return out


MINSZ_REQUESTS = [
    n for n, r in release_spec(NEWEST).requests.items() if r.minsz and r.arg == "struct"
]


def test_requests_with_a_minimum_size() -> None:
    assert len(MINSZ_REQUESTS) > 20


@pytest.mark.gcc
@pytest.mark.parametrize("name", MINSZ_REQUESTS)
def test_minimum_size_ends_at_the_end_of_the_minsz_field(name: str) -> None:
    for abi in DEFAULT_ABIS:
        require_compiler(abi)
    req = release_spec(NEWEST).requests[name]
    text = pages()[f"docs/requests/{name}.md"]
    (m,) = MINSZ.findall(text)
    assert m[0] == req.minsz and m[1] == f"{req.arg_type}.{req.minsz}"
    shown = per_abi(m[2], r"(\d+) bytes")
    want = {}
    for abi in DEFAULT_ABIS:
        facts = gcc_facts(abi)
        key = f"{req.arg_type}.{req.minsz}"
        want[abi] = facts[f"offset:{key}"] + facts[f"fsize:{key}"]
    assert shown == want


@pytest.mark.gcc
@pytest.mark.parametrize("name", sorted(release_spec(NEWEST).requests))
def test_request_number_is_in_its_row_of_the_number_table(name: str) -> None:
    for abi in DEFAULT_ABIS:
        require_compiler(abi)
    text = pages()[f"docs/requests/{name}.md"]
    table = text.split("## Request number\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([\w, ]+) \| (\w+) \| \**`(0x[0-9a-f]{8})`\** \|$", table, re.M)
    assert rows, table
    shown = {}
    for abis, encoding, number in rows:
        assert encoding == ("powerpc" if "powerpc64" in abis else "generic")
        for abi in abis.split(", "):
            assert abi not in shown
            shown[abi] = int(number, 16)
    want = {abi: gcc_facts(abi)[f"value:{name}"] % (1 << 32) for abi in DEFAULT_ABIS}
    assert shown == want


def overlay_directions() -> list[tuple[str, str, str]]:
    """(request, field, direction) as headers/*.toml says, read here with
    tomllib (the overlay file is the source; not the spec made from it)."""
    out = []
    for name in ("vfio", "iommufd"):
        with (ROOT / "headers" / f"{name}.toml").open("rb") as f:
            data = tomllib.load(f)
        for req, entry in data.get("requests", {}).items():
            for field, d in (entry.get("fields") or {}).items():
                d = d if isinstance(d, dict) else {"dir": d}
                if "until" not in d:
                    out.append((req, field, d["dir"]))
    return out


SHOWN = {"in": "in", "out": "out", "inout": "in/out"}


def test_overlay_directions_are_many() -> None:
    assert len(overlay_directions()) > 150


@pytest.mark.parametrize("request_name", sorted({r for r, _, _ in overlay_directions()}))
def test_member_table_shows_the_overlay_direction(request_name: str) -> None:
    """Each argument member's row says the direction the overlay gives it."""
    text = pages()[f"docs/requests/{request_name}.md"]
    rows = dict(re.findall(r"^\| \{c:member\}`(\w+) <[\w.:]+>` \| ([\w/]+) \|", text, re.M))
    want = {f: SHOWN[d] for r, f, d in overlay_directions() if r == request_name}
    assert {f: rows.get(f) for f in want} == want
