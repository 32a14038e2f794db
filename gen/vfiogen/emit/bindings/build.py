"""The bindings emitter: the `vfio` package of one spec."""

from __future__ import annotations

from vfiogen.emit.bindings.model import build
from vfiogen.emit.templating import black_format, render, stamp
from vfiogen.ir.model import Spec

PACKAGE_FILES = (
    "__init__.py",
    "abi.py",
    "requests.py",
    "caps.py",
    "api.py",
    "_layout.py",
    "_ioctl.py",
    "errors.py",
    "py.typed",
)


def render_bindings(spec: Spec) -> dict[str, str]:
    """{"vfio/<file>": text}: the package, black-formatted."""
    model = build(spec)
    context = {
        "stamp": stamp(spec),
        "source": spec.source,
        "release": spec.release,
        "sha256": model.sha256,
        "abis": model.abis,
        "records": model.records,
        "enums": model.enums,
        "constants": model.constants,
        "requests": model.requests,
        "request_imports": sorted(r.name for r in model.requests),
        "scopes": model.scopes,
        "capabilities": model.capabilities,
        "tails": model.tails,
        "have": {r.name for r in model.requests},
        "constants_by_name": {c.name for c in model.constants},
        "iommufd": all(
            any(r.name == n for r in model.requests)
            for n in (
                "IOMMU_IOAS_ALLOC",
                "VFIO_DEVICE_BIND_IOMMUFD",
                "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
            )
        ),
    }
    out: dict[str, str] = {}
    for name in PACKAGE_FILES:
        text = render(f"vfio/{name}.j2", **context)
        if name.endswith(".py"):
            text = black_format(text)
        out[f"vfio/{name}"] = text
    return out
