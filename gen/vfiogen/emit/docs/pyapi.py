"""What the Python reference says of the generated `vfio` package: its
public modules, classes, functions and their signatures and docstrings,
and which requests each one issues.

Read with `ast` from the rendered package (the text `render_bindings`
writes), never imported: the docs must build where the package cannot run.
A method issues a request when its body (outside `except` handlers, which
only explain failures) names the request's function in
vfio.requests (`rq.vfio_device_get_info`) or its number in vfio.abi
(`abi.VFIO_DEVICE_GET_INFO`), or calls something that does: a method of its
own class (`self.set_irqs`, MRO as Python computes it), a function of its
module, or a method of an object whose class the code names (a parameter's
annotation, `x = Cls(...)`, `x = f(...)` or `x = obj.method(...)` whose
return annotation names it, `with ... as x` alike). Calls through other
objects are not followed, so the set is what the code says it issues, never
a guess; the runtime test (tests/runtime/test_api_docs.py) checks each one
against a traced call.

A program using the package (a cookbook recipe) is read the same way
(`Package.program`): its module-level code is one more scope whose names
its own functions see.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

from vfiogen.emit.naming import function_name
from vfiogen.emit.pyparse import parse_expression, parse_module
from vfiogen.errors import DocsError, Loc
from vfiogen.ir.model import Spec

PUBLIC_MODULES = ("vfio.api", "vfio.requests", "vfio.caps", "vfio.devices", "vfio.errors")
"""The modules a user imports, in the order the reference lists them
(vfio.abi is documented by the struct, constant and enum pages)."""

DECORATED_KINDS = {
    "property": "property",
    "cached_property": "property",
    "classmethod": "classmethod",
    "staticmethod": "staticmethod",
}


@dataclass(slots=True)
class PyEntry:
    """One documented object: a class, function, method, property or attribute."""

    name: str  # qualified inside its module: "Device.region_info"
    kind: str  # class, function, method, property, classmethod, staticmethod, attribute, data
    signature: str  # "(index: int) -> RegionInfo"; the annotation for attributes
    doc: str
    defined_in: str  # "vfio._device.Device": where the code is
    requests: tuple[str, ...] = ()  # request names, sorted
    bases: tuple[str, ...] = ()  # classes: the public bases as written
    coroutine: bool = False  # an `async def`
    members: list[PyEntry] = field(default_factory=list)


@dataclass(slots=True)
class PyModule:
    name: str
    doc: str
    entries: list[PyEntry]


@dataclass(slots=True)
class _Module:
    name: str
    tree: ast.Module
    aliases: dict[str, str]  # local name -> module ("rq" -> "vfio.requests")
    imported: dict[str, tuple[str, str]]  # local name -> (module, name)
    defs: dict[str, ast.ClassDef | _Fn]


_Fn = ast.FunctionDef | ast.AsyncFunctionDef
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_Scope = _Fn | ast.Module  # a function, or a program's module-level code
_Def = tuple[str, ast.ClassDef | _Fn]  # (module, node)


class Package:
    """The rendered package, parsed: names resolved across its modules."""

    def __init__(self, spec: Spec, files: dict[str, str]) -> None:
        self.modules: dict[str, _Module] = {}
        for path, text in files.items():
            if path.startswith("vfio/") and path.endswith(".py"):
                name = "vfio." + path.removeprefix("vfio/").removesuffix(".py")
                self.modules[name] = _parse(name, path, text)
        self.by_function = {function_name(r): r for r in spec.requests}
        self.requests = set(spec.requests)
        self._issued: dict[tuple[int, str], frozenset[str]] = {}
        self._globals: dict[str, dict[str, list[_Def]]] = {}  # a program's module-level names

    # --- names ---------------------------------------------------------------

    def resolve(self, module: str, name: str) -> _Def | None:
        """Where `name`, as `module` sees it, is defined (following imports)."""
        for _ in range(8):
            mod = self.modules.get(module)
            if mod is None:
                return None
            if name in mod.defs:
                return module, mod.defs[name]
            if name not in mod.imported:
                return None
            module, name = mod.imported[name]
        return None

    def _expr_def(self, module: str, node: ast.expr) -> _Def | None:
        """The class or function an expression names: `Cls`, `mod.Cls`, `Cls[T]`."""
        if isinstance(node, ast.Subscript):
            return self._expr_def(module, node.value)
        if isinstance(node, ast.Name):
            return self.resolve(module, node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            target = self.modules[module].aliases.get(node.value.id)
            return self.resolve(target, node.attr) if target else None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "Cls" annotation
            try:
                return self._expr_def(module, parse_expression(node.value))
            except SyntaxError:
                return None
        return None

    def mro(self, module: str, cls: ast.ClassDef) -> list[_Def]:
        """The class and its bases in the package, in Python's C3 order."""
        bases: list[list[_Def]] = []
        for b in cls.bases:
            found = self._expr_def(module, b)
            if found is not None and isinstance(found[1], ast.ClassDef):
                bases.append(self.mro(found[0], found[1]))
        return [(module, cls)] + _c3(bases + [[seq[0] for seq in bases]])

    def lookup(self, mro: list[_Def], name: str) -> _Def | None:
        for module, cls in mro:
            for node in cls.body:
                if isinstance(node, _FUNCTIONS) and node.name == name:
                    return module, node
        return None

    # --- requests ------------------------------------------------------------

    def issued(self, module: str, fn: _Fn, mro: list[_Def]) -> frozenset[str]:
        """The requests `fn` issues, itself or through what it calls."""
        return self._issued_by(module, fn, mro, set())

    def program(self, name: str, path: str, source: str) -> frozenset[str]:
        """The requests a program using the package issues: its module-level
        code and what that calls (its own functions and classes, the
        package's). `source` is parsed as module `name`; errors name `path`."""
        mod = _parse(name, path, source)
        self.modules[name] = mod
        self._globals[name] = self._typed_names(name, mod.tree, [])
        return self._issued_by(name, mod.tree, [], set())

    def _issued_by(
        self, module: str, fn: _Scope, mro: list[_Def], seen: set[int]
    ) -> frozenset[str]:
        key = (id(fn), ",".join(f"{m}.{c.name}" for m, c in mro[:1]))
        if key in self._issued:
            return self._issued[key]
        if id(fn) in seen:
            return frozenset()
        seen = seen | {id(fn)}
        mod = self.modules[module]
        out: set[str] = set()
        typed = self._typed_names(module, fn, mro)
        for node in _success_path(fn):
            out |= self._named(mod, node)
            for callee_module, callee, callee_mro in self._callees(module, node, mro, typed):
                out |= self._issued_by(callee_module, callee, callee_mro, seen)
        result = frozenset(out)
        self._issued[key] = result
        return result

    def _named(self, mod: _Module, node: ast.AST) -> set[str]:
        """A request this node names: its function or its number."""
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            target = mod.aliases.get(node.value.id)
            if target == "vfio.requests" and node.attr in self.by_function:
                return {self.by_function[node.attr]}
            if target in ("vfio.abi", "vfio.requests") and node.attr in self.requests:
                return {node.attr}
        if isinstance(node, ast.Name) and node.id in mod.imported:
            origin, name = mod.imported[node.id]
            if origin == "vfio.requests" and name in self.by_function:
                return {self.by_function[name]}
            if origin in ("vfio.abi", "vfio.requests") and name in self.requests:
                return {name}
        return set()

    # --- classes of values -----------------------------------------------------

    def _typed_names(self, module: str, fn: _Scope, mro: list[_Def]) -> dict[str, list[_Def]]:
        """Local names whose class the code says, in source order: annotations,
        `x = Cls(...)`, `x = cls(...)` in a classmethod, `x = f(...)` and
        `x = obj.method(...)` by the callee's return annotation, `with ... as x`
        alike; a program's module-level names are seen by its functions."""
        out = dict(self._globals.get(module, {}))
        if not isinstance(fn, ast.Module):
            for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]:
                if a.annotation is not None:
                    self._note(out, a.arg, self._annotation_class(module, a.annotation, mro))
        for node in _in_order(fn):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    self._bind(module, t, node.value, mro, out)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                found = self._annotation_class(module, node.annotation, mro)
                self._note(out, node.target.id, found)
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                self._bind(module, node.optional_vars, node.context_expr, mro, out)
        return out

    def _bind(
        self,
        module: str,
        target: ast.expr,
        value: ast.expr,
        mro: list[_Def],
        typed: dict[str, list[_Def]],
    ) -> None:
        """`target = value`: a name, or a tuple unpacked from a tuple (item by
        item) or from a comprehension (each name the class of its element)."""
        if isinstance(target, ast.Name):
            self._note(typed, target.id, self._value_class(module, value, mro, typed))
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                for t, v in zip(target.elts, value.elts):
                    self._bind(module, t, v, mro, typed)
            elif isinstance(value, (ast.GeneratorExp, ast.ListComp)):
                for t in target.elts:
                    self._bind(module, t, value.elt, mro, typed)

    @staticmethod
    def _note(typed: dict[str, list[_Def]], name: str, mro: list[_Def] | None) -> None:
        if mro:
            typed[name] = mro

    def _value_class(
        self, module: str, expr: ast.expr, mro: list[_Def], typed: dict[str, list[_Def]]
    ) -> list[_Def] | None:
        """The MRO of the class of `expr`'s value, when the code says it
        (or of the class `expr` names: `Cls`, `api.Device`)."""
        if isinstance(expr, ast.Name) and expr.id in ("self", "cls"):
            return mro or None
        if isinstance(expr, ast.Name) and expr.id in typed:
            return typed[expr.id]
        if isinstance(expr, ast.Call):
            return self._result_class(module, expr.func, mro, typed)
        found = self._expr_def(module, expr)
        if found is not None and isinstance(found[1], ast.ClassDef):
            return self.mro(found[0], found[1])
        return None

    def _result_class(
        self, module: str, func: ast.expr, mro: list[_Def], typed: dict[str, list[_Def]]
    ) -> list[_Def] | None:
        """The class a call of `func` returns: the class called, or the
        callee's return annotation (`Self`: the class it was called on)."""
        if isinstance(func, ast.Attribute):
            owner = self._value_class(module, func.value, mro, typed)
            if owner:
                method = self.lookup(owner, func.attr)
                if method is None or not isinstance(method[1], _FUNCTIONS):
                    return None
                returns = method[1].returns
                return self._annotation_class(method[0], returns, owner) if returns else None
        elif isinstance(func, ast.Name) and func.id == "cls":
            return mro or None
        found = self._expr_def(module, func)
        if found is None:
            return None
        if isinstance(found[1], ast.ClassDef):
            return self.mro(found[0], found[1])
        returns = found[1].returns
        return self._annotation_class(found[0], returns, []) if returns else None

    def _annotation_class(self, module: str, ann: ast.expr, mro: list[_Def]) -> list[_Def] | None:
        """The class an annotation names (`X | None` as X, `Self` as `mro`)."""
        if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
            sides = [s for s in (ann.left, ann.right) if not _is_none(s)]
            return self._annotation_class(module, sides[0], mro) if len(sides) == 1 else None
        if isinstance(ann, ast.Name) and ann.id == "Self":
            return mro or None
        found = self._expr_def(module, ann)
        if found is not None and isinstance(found[1], ast.ClassDef):
            return self.mro(found[0], found[1])
        return None

    def _callees(
        self, module: str, node: ast.AST, mro: list[_Def], typed: dict[str, list[_Def]]
    ) -> Iterator[tuple[str, _Fn, list[_Def]]]:
        """What a node calls (or reads, for properties) inside the package."""
        if isinstance(node, ast.Attribute):
            cls_mro = self._value_class(module, node.value, mro, typed)
            if cls_mro:
                found = self.lookup(cls_mro, node.attr)
                if found is not None and isinstance(found[1], _FUNCTIONS):
                    yield found[0], found[1], cls_mro
        elif isinstance(node, ast.Call):
            found = self._expr_def(module, node.func)
            if found is None:
                return
            if isinstance(found[1], _FUNCTIONS):
                yield found[0], found[1], []
            else:
                cls_mro = self.mro(found[0], found[1])
                init = self.lookup(cls_mro, "__init__")
                if init is not None and isinstance(init[1], _FUNCTIONS):
                    yield init[0], init[1], cls_mro


def _roots(scope: _Scope) -> list[ast.AST]:
    """What a scope runs: a function's whole tree (its closures too), a
    module's statements but its definitions (they run when called)."""
    if isinstance(scope, ast.Module):
        return [s for s in scope.body if not isinstance(s, (ast.ClassDef, *_FUNCTIONS))]
    return [scope]


def _success_path(scope: _Scope) -> Iterator[ast.AST]:
    """Every node of `scope` but those of its `except` handlers: a request made
    only to explain a failure (an error's hint) is not one the call issues."""
    todo = _roots(scope)
    while todo:
        node = todo.pop()
        yield node
        todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.ExceptHandler))


def _in_order(scope: _Scope) -> Iterator[ast.AST]:
    """Every node of `scope` in source order (a name is bound before its uses)."""
    todo = list(reversed(_roots(scope)))
    while todo:
        node = todo.pop()
        yield node
        todo.extend(reversed(list(ast.iter_child_nodes(node))))


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _c3(seqs: list[list[_Def]]) -> list[_Def]:
    out: list[_Def] = []
    seqs = [list(s) for s in seqs if s]
    while seqs:
        for seq in seqs:
            head = seq[0]
            if not any(head[1] is other[1] for s in seqs for other in s[1:]):
                break
        else:
            raise DocsError(None, "inconsistent class hierarchy in the vfio package")
        out.append(head)
        seqs = [[d for d in s if d[1] is not head[1]] for s in seqs]
        seqs = [s for s in seqs if s]
    return out


def _parse(name: str, path: str, text: str) -> _Module:
    try:
        tree = parse_module(text, path)
    except SyntaxError as exc:
        raise DocsError(Loc(path, exc.lineno or 0), f"cannot parse: {exc.msg}") from None
    aliases: dict[str, str] = {}
    imported: dict[str, tuple[str, str]] = {}
    defs: dict[str, ast.ClassDef | _Fn] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vfio"):
            for a in node.names:
                local = a.asname or a.name
                if node.module == "vfio":
                    aliases[local] = f"vfio.{a.name}"
                else:
                    imported[local] = (node.module or "", a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("vfio.") and a.asname:
                    aliases[a.asname] = a.name
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, *_FUNCTIONS)):
            defs[node.name] = node
        elif isinstance(node, ast.If):  # TYPE_CHECKING blocks: Protocols mypy reads
            for inner in node.body:
                if isinstance(inner, (ast.ClassDef, *_FUNCTIONS)):
                    defs.setdefault(inner.name, inner)
    return _Module(name, tree, aliases, imported, defs)


def reference(spec: Spec, files: dict[str, str]) -> list[PyModule]:
    """The public modules of the rendered package `files` ({"vfio/x.py": text})."""
    return modules(Package(spec, files))


def modules(pkg: Package) -> list[PyModule]:
    """The public modules of a parsed package."""
    out = []
    for name in PUBLIC_MODULES:
        mod = pkg.modules.get(name)
        if mod is None:
            continue
        entries = [_entry(pkg, name, n) for n in _public_names(mod)]
        out.append(
            PyModule(name, ast.get_docstring(mod.tree) or "", [e for e in entries if e is not None])
        )
    return out


def _public_names(mod: _Module) -> list[str]:
    """`__all__` when the module has one, else its public classes, functions
    and annotated data, in source order."""
    for node in mod.tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            return [str(v) for v in value]
    names = []
    for node in mod.tree.body:
        if isinstance(node, (ast.ClassDef, *_FUNCTIONS)):
            names.append(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_")]


def _entry(pkg: Package, module: str, name: str) -> PyEntry | None:
    found = pkg.resolve(module, name)
    if found is None:
        return _data(pkg.modules[module], name)
    where, node = found
    if isinstance(node, _FUNCTIONS):
        return PyEntry(
            name,
            "function",
            _signature(node, method=False),
            ast.get_docstring(node) or "",
            f"{where}.{node.name}",
            tuple(sorted(pkg.issued(where, node, []))),
            coroutine=isinstance(node, ast.AsyncFunctionDef),
        )
    return _class(pkg, module, name, where, node)


def _class(pkg: Package, module: str, name: str, where: str, node: ast.ClassDef) -> PyEntry:
    mro = pkg.mro(where, node)
    doc = next((ast.get_docstring(c) for _, c in mro if ast.get_docstring(c)), None) or ""
    fields = [
        (s.target.id, s)
        for s in node.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
    ]
    is_tuple = any(ast.unparse(b) == "NamedTuple" for b in node.bases)
    init = pkg.lookup(mro, "__init__")
    if is_tuple:
        signature = "(" + ", ".join(f"{n}: {ast.unparse(s.annotation)}" for n, s in fields) + ")"
    elif init is not None and isinstance(init[1], _FUNCTIONS):
        signature = _signature(init[1], method=True, returns=False)
    else:
        signature = ""
    entry = PyEntry(
        name,
        "class",
        signature,
        doc,
        f"{where}.{node.name}",
        bases=tuple(
            ast.unparse(b)
            for b in node.bases
            if not ast.unparse(b).startswith("_") and ast.unparse(b) != "NamedTuple"
        ),
    )
    seen: set[str] = set()
    for owner_module, owner in mro:
        for s in owner.body:
            if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
                member = s.target.id
                if member.startswith("_") or member in seen:
                    continue
                seen.add(member)
                entry.members.append(
                    PyEntry(
                        f"{name}.{member}",
                        "attribute",
                        ast.unparse(s.annotation),
                        "",
                        f"{owner_module}.{owner.name}",
                    )
                )
            elif isinstance(s, _FUNCTIONS) and not s.name.startswith("_"):
                if s.name in seen:
                    continue
                seen.add(s.name)
                entry.members.append(_method(pkg, name, f"{owner_module}.{owner.name}", s, mro))
    return entry


def _method(
    pkg: Package,
    cls: str,
    owner: str,
    fn: _Fn,
    mro: list[_Def],
) -> PyEntry:
    kinds = [DECORATED_KINDS.get(ast.unparse(d).rsplit(".", 1)[-1]) for d in fn.decorator_list]
    kind = next((k for k in kinds if k is not None), "method")
    if kind == "property":
        signature = ast.unparse(fn.returns) if fn.returns is not None else ""
    else:
        signature = _signature(fn, method=kind != "staticmethod")
    return PyEntry(
        f"{cls}.{fn.name}",
        kind,
        signature,
        ast.get_docstring(fn) or "",
        owner,
        tuple(sorted(pkg.issued(owner.rsplit(".", 1)[0], fn, mro))),
        coroutine=isinstance(fn, ast.AsyncFunctionDef),
    )


def _signature(fn: _Fn, *, method: bool, returns: bool = True) -> str:
    """The parameters as written (without self/cls), and the return annotation."""
    args = ast.arguments(
        posonlyargs=list(fn.args.posonlyargs),
        args=list(fn.args.args),
        vararg=fn.args.vararg,
        kwonlyargs=list(fn.args.kwonlyargs),
        kw_defaults=list(fn.args.kw_defaults),
        kwarg=fn.args.kwarg,
        defaults=list(fn.args.defaults),
    )
    if method:
        if args.posonlyargs:
            args.posonlyargs = args.posonlyargs[1:]
        elif args.args:
            args.args = args.args[1:]
    text = f"({ast.unparse(args)})"
    if returns and fn.returns is not None:
        text += f" -> {ast.unparse(fn.returns)}"
    return text


def _data(mod: _Module, name: str) -> PyEntry | None:
    """A module-level annotated name and the docstring that follows it."""
    body = mod.tree.body
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.target.id != name:
                continue
            nxt = body[i + 1] if i + 1 < len(body) else None
            doc = ""
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
                doc = str(nxt.value.value)
            return PyEntry(name, "data", ast.unparse(node.annotation), doc, f"{mod.name}.{name}")
    return None
