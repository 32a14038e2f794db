"""The hardware tier's proof: which requests returned success through the
generated runtime on which kernel flavor and IOMMU mode, and which errnos
were seen. The tier writes build/hardware/proof.json; a committed snapshot
(headers/proof.json) feeds the docs. Shape (schema 1):

    {"schema": 1,
     "modes": {"<flavor>": ["type1", "cdev", ...]},
     "requests": {"<REQUEST>": {"ok": ["<flavor>/<mode>", ...],
                                "errnos": {"<ENAME>": ["<flavor>/<mode>", ...]}}},
     "fuzz": {"<flavor>": {"<REQUEST>": {"calls": n, "ok": m}}}}

"fuzz" (optional, a key of its own so that readers of the first three keep
working) is the kernel fuzzer's reach: how many of its random calls of each
request the kernel answered with success, on each flavor it ran.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vfiogen.data import data_dir
from vfiogen.errors import Loc, ProofError

SCHEMA = 1
SNAPSHOT = "proof.json"


@dataclass(frozen=True, slots=True)
class RequestProof:
    ok: list[str] = field(default_factory=list)  # "<flavor>/<mode>"
    errnos: dict[str, list[str]] = field(default_factory=dict)  # ENAME -> where


@dataclass(frozen=True, slots=True)
class FuzzReach:
    calls: int
    ok: int


@dataclass(frozen=True, slots=True)
class Proof:
    source: str  # the file it came from, as the docs cite it
    modes: dict[str, list[str]]
    requests: dict[str, RequestProof]
    fuzz: dict[str, dict[str, FuzzReach]] = field(default_factory=dict)  # flavor -> request

    def runs(self) -> list[str]:
        """Every "<flavor>/<mode>" the tier ran, flavor by flavor."""
        return [f"{flavor}/{mode}" for flavor, modes in self.modes.items() for mode in modes]


def _strings(value: Any, where: Loc, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProofError(where, f"{what}: expected a list of strings")
    return list(value)


def parse(text: str, path: str) -> Proof:
    """A proof from its JSON text; `path` names it in errors."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProofError(Loc(path, exc.lineno), f"not JSON: {exc.msg}") from None
    where = Loc(path, 1)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ProofError(where, f"not a proof of schema {SCHEMA}")
    modes_in, requests_in = data.get("modes"), data.get("requests")
    if not isinstance(modes_in, dict) or not isinstance(requests_in, dict):
        raise ProofError(where, "expected 'modes' and 'requests' objects")
    modes = {str(k): _strings(v, where, f"modes.{k}") for k, v in modes_in.items()}
    requests = {}
    for name, entry in requests_in.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("errnos", {}), dict):
            raise ProofError(where, f"requests.{name}: expected ok and errnos")
        errnos = {
            e: _strings(v, where, f"requests.{name}.errnos.{e}")
            for e, v in entry.get("errnos", {}).items()
        }
        requests[name] = RequestProof(_strings(entry.get("ok", []), where, name), errnos)
    return Proof(path, modes, requests, _fuzz(data.get("fuzz", {}), where))


def _fuzz(value: Any, where: Loc) -> dict[str, dict[str, FuzzReach]]:
    if not isinstance(value, dict):
        raise ProofError(where, "fuzz: expected an object of flavors")
    out: dict[str, dict[str, FuzzReach]] = {}
    for flavor, per_request in value.items():
        if not isinstance(per_request, dict):
            raise ProofError(where, f"fuzz.{flavor}: expected an object of requests")
        out[flavor] = {}
        for name, reach in per_request.items():
            counts = [reach.get(k) if isinstance(reach, dict) else None for k in ("calls", "ok")]
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
                raise ProofError(where, f"fuzz.{flavor}.{name}: expected calls and ok counts")
            out[flavor][name] = FuzzReach(int(counts[0] or 0), int(counts[1] or 0))
    return out


def load(path: Path) -> Proof:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProofError(Loc(str(path)), f"cannot read proof: {exc.strerror}") from None
    return parse(text, str(path))


def snapshot() -> Proof | None:
    """The committed snapshot the docs cite, when there is one."""
    path = data_dir("headers") / SNAPSHOT
    return parse(path.read_text(), f"headers/{SNAPSHOT}") if path.is_file() else None
