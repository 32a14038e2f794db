"""Coverage: what the overlay leaves unannotated in this header (requests,
undirected fields, capability ids, flexible arrays), and the unannotated
requests typed from their C macro alone."""

from __future__ import annotations

import re

from vfiogen.ir.model import Spec
from vfiogen.ir.query import named_fields


def type_from_c_macro(spec: Spec) -> None:
    """An unannotated request (a vendor's) typed from its _IO* macro alone:
    arg kind from the direction and the size type; fd kind unknown (None)."""
    for req in spec.requests.values():
        if req.annotated or req.arg is not None:
            continue
        req.note = req.note or (
            "Unannotated: no overlay describes this request; its argument is typed from "
            f"its {req.ioc.macro} macro alone and the fd it is issued on is unknown."
        )
        words = (req.ioc.size_type or "").split()
        if req.ioc.dir == "none" or not words:
            req.arg, req.result = "none", "status"
        elif len(words) == 2 and words[0] in ("struct", "union") and words[1] in spec.records:
            req.arg, req.arg_type, req.result = "struct", words[1], "status"
        else:
            req.arg, req.result = "int_ptr", "status"


def compute(spec: Spec) -> None:
    """Fill spec.coverage once every overlay file is merged."""
    type_from_c_macro(spec)
    cov = spec.coverage
    cov.requests = len(spec.requests)
    cov.annotated = sum(r.annotated for r in spec.requests.values())
    cov.unannotated_requests = [n for n, r in spec.requests.items() if not r.annotated]
    for req in spec.requests.values():
        if req.annotated and req.arg == "struct" and req.arg_type in spec.records:
            for fname in (f.name for f in named_fields(spec.records[req.arg_type], spec.records)):
                if fname not in req.directions:
                    cov.undirected_fields.append(f"{req.name}: {fname}")
    caps = re.compile(r"_CAP_[A-Z0-9_]+$")
    for name, c in spec.constants.items():
        if (
            caps.search(name)
            and not name.endswith(("_VERSION", "_MASK"))
            and name not in spec.capabilities
        ):
            if isinstance(c.value, int) and c.kind == "macro" and c.values is None:
                cov.uncovered_capabilities.append(name)
    for rec in spec.records.values():
        for f in rec.fields:
            if f.type.kind == "array" and f.type.count in (None, 0) and f.name:
                key = f"{rec.name}.{f.name}"
                if key not in spec.tails and not f.name.startswith("__empty"):
                    cov.untyped_tails.append(key)
