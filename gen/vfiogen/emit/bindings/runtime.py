"""The hand-written part of the `vfio` package: templates/vfio/ files that
are not templates, shipped as they are.

Each runtime module may declare, as module-level literals, what the headers
must define for it to ship (`__requires__`), the names vfio.api re-exports
(`__all__`) and the Device or Container subclass it adds (`__device_part__`,
`__container_part__`). They are
read with `ast`, never imported (they import the generated vfio.abi). A
module ships when the spec defines everything it requires and every runtime
module it imports ships too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from vfiogen.data import data_dir
from vfiogen.emit.pyparse import parse_module
from vfiogen.errors import Loc, VfiogenError
from vfiogen.ir.model import Spec

HEADER = (
    "# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/."
)


@dataclass(frozen=True, slots=True)
class RuntimeModule:
    """One file of templates/vfio/ that ships verbatim."""

    file: str  # "_iommufd.py", "py.typed"
    text: str
    requires: tuple[str, ...]  # header names (requests, constants, types) the code uses
    exports: tuple[str, ...]  # what vfio.api re-exports from it
    device_part: str | None  # the Device subclass vfio.api.Device combines
    container_part: str | None  # the Container subclass vfio.api.Container combines
    imports: tuple[str, ...]  # the runtime modules it imports ("_device", ...)

    @property
    def module(self) -> str:
        return self.file.removesuffix(".py")


def runtime_dir() -> Path:
    return data_dir("templates") / "vfio"


def load_runtime(root: Path | None = None) -> list[RuntimeModule]:
    """Every verbatim file of the package, in dependency order (a module
    after the runtime modules it imports)."""
    root = root or runtime_dir()
    found: dict[str, RuntimeModule] = {}
    for path in sorted(root.iterdir()):
        if path.suffix == ".j2" or not path.is_file():
            continue
        text = path.read_text()
        found[path.name] = _describe(path, text) if path.suffix == ".py" else _plain(path, text)
    return _ordered(found)


def _plain(path: Path, text: str) -> RuntimeModule:
    return RuntimeModule(path.name, text, (), (), None, None, ())


def _describe(path: Path, text: str) -> RuntimeModule:
    if not text.startswith(HEADER + "\n"):
        raise VfiogenError(Loc(str(path), 1), f"expected the runtime header line {HEADER!r}")
    tree = parse_module(text, str(path))
    literals: dict[str, object] = {}
    imports: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id.startswith("__"):
                    literals[target.id] = _literal(path, node.value)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vfio._"):
            imports.append((node.module or "").removeprefix("vfio."))
    return RuntimeModule(
        path.name,
        text,
        _names(path, literals.get("__requires__", ()), "__requires__"),
        _names(path, literals.get("__all__", ()), "__all__"),
        _optional_name(path, literals.get("__device_part__"), "__device_part__"),
        _optional_name(path, literals.get("__container_part__"), "__container_part__"),
        tuple(imports),
    )


def _literal(path: Path, node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise VfiogenError(Loc(str(path), node.lineno), f"expected a literal") from None


def _names(path: Path, value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
        raise VfiogenError(Loc(str(path), 1), f"{what} must be a tuple or list of strings")
    return tuple(value)


def _optional_name(path: Path, value: object, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise VfiogenError(Loc(str(path), 1), f"{what} must be a class name")
    return value


def _ordered(found: dict[str, RuntimeModule]) -> list[RuntimeModule]:
    """Dependency order; a cycle or an import of a missing module is an error."""
    out: list[RuntimeModule] = []
    done: set[str] = set()

    def visit(m: RuntimeModule, path: tuple[str, ...]) -> None:
        if m.module in done:
            return
        if m.module in path:
            raise VfiogenError(Loc(m.file, 1), f"import cycle {' -> '.join(path + (m.module,))}")
        for dep in m.imports:
            if f"{dep}.py" not in found:
                raise VfiogenError(
                    Loc(m.file, 1), f"imports vfio.{dep}, which is not a runtime module"
                )
            visit(found[f"{dep}.py"], path + (m.module,))
        done.add(m.module)
        out.append(m)

    for m in found.values():
        visit(m, ())
    return out


def defined_names(spec: Spec) -> set[str]:
    """Every header name the spec defines, as vfio.abi spells it."""
    return set(spec.requests) | set(spec.constants) | set(spec.records)


def shipped(spec: Spec, modules: list[RuntimeModule]) -> list[RuntimeModule]:
    """The runtime modules this spec's package gets."""
    defined = defined_names(spec)
    out: list[RuntimeModule] = []
    kept: set[str] = set()
    for m in modules:  # dependency order: imports are decided first
        if all(r in defined for r in m.requires) and all(d in kept for d in m.imports):
            out.append(m)
            kept.add(m.module)
    return out
