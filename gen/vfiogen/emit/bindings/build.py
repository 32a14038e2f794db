"""The bindings emitter: the `vfio` package of one spec.

Rendered from templates: what depends on the spec (abi, requests, caps, the
package's identity, and vfio.api, which only combines the runtime parts this
release ships). Copied as is: the hand-written runtime (runtime.py decides
which of its modules the release gets).
"""

from __future__ import annotations

from vfiogen.emit.bindings.model import build
from vfiogen.emit.bindings.runtime import RuntimeModule, load_runtime, shipped
from vfiogen.emit.bindings.wheel import wheel_version
from vfiogen.emit.templating import black_format, render, stamp
from vfiogen.ir.model import Spec

RENDERED = ("__init__.py", "abi.py", "requests.py", "caps.py", "fsm.py", "api.py")


def render_bindings(spec: Spec) -> dict[str, str]:
    """{"vfio/<file>": text}: the package, black-formatted."""
    model = build(spec)
    runtime = shipped(spec, load_runtime())
    context = {
        "stamp": stamp(spec),
        "source": spec.source,
        "release": spec.release,
        "version": wheel_version(spec),
        "sha256": model.sha256,
        "abis": model.abis,
        "records": model.records,
        "enums": model.enums,
        "constants": model.constants,
        "requests": model.requests,
        "request_imports": sorted(r.name for r in model.requests),
        "struct_types": sorted({r.arg_type for r in model.requests if r.arg_type}),
        "scopes": model.scopes,
        "capabilities": model.capabilities,
        "tails": model.tails,
        "builders": model.builders,
        "pointees": model.pointees,
        "state_machines": list(spec.state_machines.values()),
        "features": sorted(((f.name, f.index) for f in spec.features.values()), key=lambda f: f[1]),
        **api_context(runtime),
    }
    out: dict[str, str] = {}
    for name in RENDERED:
        out[f"vfio/{name}"] = black_format(render(f"vfio/{name}.j2", **context))
    for module in runtime:
        out[f"vfio/{module.file}"] = module.text
    return out


def api_context(runtime: list[RuntimeModule]) -> dict[str, object]:
    """What vfio.api re-exports and how its Device and Container are
    composed: the parts' subclasses first (reverse dependency order), the
    core class last."""
    private = [m for m in runtime if m.module.startswith("_")]  # public modules stand alone
    imports = [(m.module, m.exports) for m in private if m.exports]
    parts = [(m.module, m.device_part) for m in reversed(private) if m.device_part]
    container_parts = [(m.module, m.container_part) for m in reversed(private) if m.container_part]
    exported = {name for m in private if m.module != "_base" for name in m.exports}
    own = {"Container", "Device", "Group", "open_pci", "DecodeError", "VfioError"}
    return {
        "api_imports": imports,
        "device_parts": parts,
        "container_parts": container_parts,
        "api_all": sorted(exported | own),
        "iommufd": any(m.module == "_iommufd" for m in runtime),
    }
