"""What the Python reference says of the generated `vfio` package: its
public modules, classes, functions and their signatures and docstrings,
and which requests each one issues.

Read with `ast` from the rendered package (the text `render_bindings`
writes), never imported: the docs must build where the package cannot run.
A method issues a request when its body (outside `except` handlers, which
only explain failures) names the request's function in
vfio.requests (`rq.vfio_device_get_info`), its number in vfio.abi
(`abi.VFIO_DEVICE_GET_INFO`) or a module constant that declares it issued
inline (`_MAP_DMA = _ioctl.inline("VFIO_IOMMU_MAP_DMA", ...)`), or calls
something that does: a method of its
own class (`self.set_irqs`, MRO as Python computes it), a function of its
module, or a method of an object whose class the code names (a parameter's
annotation, `x = Cls(...)`, `x = f(...)` or `x = obj.method(...)` whose
return annotation names it, `with ... as x` alike, an attribute by its
annotation in the class), and the `__enter__`/`__exit__` of what a `with`
statement enters. A value typed with a Protocol (`space: DmaSpace`) is
followed to the implementation the code gives it: a constructor's
Protocol-typed parameter takes the class of its argument (`DmaBuffer(self,
...)` in Ioas: DmaSpace is the Ioas), an assignment `x.attr = y` to a
Protocol-typed attribute takes y's class, and a call's value carries what
its callee's returned value was given (`open_pci` returns a Device whose
DmaSpace is its Container); that class's methods then stand for the
Protocol's, in every method of the object. Calls through other objects are
not followed, so the set is what the code says it issues, never a guess;
the runtime test (tests/runtime/test_api_docs.py) checks each one against a
traced call.

A program using the package (a cookbook recipe) is read the same way
(`Package.program`): its module-level code is one more scope whose names
its own functions see.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from vfiogen.emit.naming import function_name
from vfiogen.emit.pyparse import parse_expression, parse_module
from vfiogen.errors import DocsError, Loc
from vfiogen.ir.model import Spec

PUBLIC_MODULES = (
    "vfio.api",
    "vfio.requests",
    "vfio.caps",
    "vfio.tails",
    "vfio.fsm",
    "vfio.devices",
    "vfio.errors",
)
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
    typevars: dict[str, ast.expr]  # `_D = TypeVar("_D", bound=Device)`: "_D" -> its bound
    inline: dict[
        str, str
    ]  # `_MAP = _ioctl.inline("VFIO_IOMMU_MAP_DMA", ...)`: "_MAP" -> the request


_Fn = ast.FunctionDef | ast.AsyncFunctionDef
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_Scope = _Fn | ast.Module  # a function, or a program's module-level code
_Def = tuple[str, ast.ClassDef | _Fn]  # (module, node)
_CALLED = "{}()"
"""A typed name's key for what calling it returns (`device_class: type[_D]`)."""


class _Bound(list[_Def]):
    """A class's MRO, and the implementation each Protocol its members are
    typed with has in this object, when the code says it: id(Protocol
    ClassDef) -> the implementation's class."""

    __slots__ = ("protocols",)

    def __init__(self, mro: Iterable[_Def], protocols: Mapping[int, list[_Def]]) -> None:
        super().__init__(mro)
        self.protocols = dict(protocols)


def _protocols(t: list[_Def]) -> dict[int, list[_Def]]:
    return t.protocols if isinstance(t, _Bound) else {}


def _with_protocols(t: list[_Def], protocols: Mapping[int, list[_Def]]) -> list[_Def]:
    """`t` with these Protocol implementations added."""
    return _Bound(t, {**_protocols(t), **protocols}) if protocols else t


def _type_key(t: list[_Def]) -> str:
    """The class and its Protocol implementations, for a memo key."""
    head = ",".join(f"{m}.{c.name}" for m, c in t[:1])
    bound = sorted(f"{p}={_type_key(i)}" for p, i in _protocols(t).items())
    return head + (f"[{';'.join(bound)}]" if bound else "")


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
        self._returned: dict[tuple[int, str], dict[int, list[_Def]]] = {}
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
            found = self.resolve(module, node.id)
            bound = self.modules[module].typevars.get(node.id) if module in self.modules else None
            return self._expr_def(module, bound) if found is None and bound else found
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
        key = (id(fn), _type_key(mro))
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
        if isinstance(node, ast.Name) and mod.inline.get(node.id) in self.requests:
            return {mod.inline[node.id]}
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
                if a.annotation is None:
                    continue
                self._note(out, a.arg, self._annotation_class(module, a.annotation, mro))
                made = _class_object(a.annotation)  # `x: type[X]`: calling x makes an X
                if made is not None:
                    self._note(
                        out, _CALLED.format(a.arg), self._annotation_class(module, made, mro)
                    )
        for node in _in_order(fn):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    self._bind(module, t, node.value, mro, out)
                    self._implement(module, t, node.value, mro, out)
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

    def _implement(
        self,
        module: str,
        target: ast.expr,
        value: ast.expr,
        mro: list[_Def],
        typed: dict[str, list[_Def]],
    ) -> None:
        """`x.attr = y` to an attribute typed with a Protocol: y's class is
        that Protocol's implementation in x from here on."""
        if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
            return
        owner = typed.get(target.value.id)
        found = self._attribute_annotation(owner, target.attr) if owner else None
        protocol = self._protocol(found[0], found[1]) if found else None
        impl = self._value_class(module, value, mro, typed) if protocol else None
        if owner and protocol and impl and not self._is_protocol(impl):
            typed[target.value.id] = _with_protocols(owner, {id(protocol): impl})

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
            return self._call_class(module, expr, mro, typed)
        found = self._expr_def(module, expr)
        if found is not None and isinstance(found[1], ast.ClassDef):
            return self.mro(found[0], found[1])
        if isinstance(expr, ast.Attribute):  # `obj.attr` by its annotation in obj's class
            owner = self._value_class(module, expr.value, mro, typed)
            ann = self._attribute_annotation(owner, expr.attr) if owner else None
            return self._annotation_class(ann[0], ann[1], owner or []) if ann else None
        return None

    def _call_class(
        self, module: str, call: ast.Call, mro: list[_Def], typed: dict[str, list[_Def]]
    ) -> list[_Def] | None:
        """The class of a call's value, with the Protocol implementations the
        code gives it: a constructor's, or those of the callee's returned value."""
        if isinstance(call.func, ast.Name) and _CALLED.format(call.func.id) in typed:
            return typed[_CALLED.format(call.func.id)]
        found = self._expr_def(module, call.func)
        if found is not None and isinstance(found[1], ast.ClassDef):
            return self._constructed(module, call, self.mro(found[0], found[1]), mro, typed)
        result = self._result_class(module, call.func, mro, typed)
        callee = self._callee(module, call.func, mro, typed)
        if result is None or callee is None:
            return result
        return _with_protocols(result, self._returned_protocols(*callee))

    def _callee(
        self, module: str, func: ast.expr, mro: list[_Def], typed: dict[str, list[_Def]]
    ) -> tuple[str, _Fn, list[_Def]] | None:
        """The function (`f`, `mod.f`) or method a call runs, and the class it runs on."""
        found = self._expr_def(module, func)
        if found is not None and isinstance(found[1], _FUNCTIONS):
            return found[0], found[1], []
        if isinstance(func, ast.Attribute):
            owner = self._value_class(module, func.value, mro, typed)
            method = self.lookup(owner, func.attr) if owner else None
            if owner and method is not None and isinstance(method[1], _FUNCTIONS):
                return method[0], method[1], owner
        return None

    def _constructed(
        self,
        module: str,
        call: ast.Call,
        cls: list[_Def],
        mro: list[_Def],
        typed: dict[str, list[_Def]],
    ) -> list[_Def]:
        """`Cls(...)`: each Protocol-typed parameter of its __init__ takes
        the class of the argument passed for it."""
        init = self.lookup(cls, "__init__")
        if init is None or not isinstance(init[1], _FUNCTIONS):
            return cls
        args = init[1].args
        params = [*args.posonlyargs, *args.args][1:]
        passed = [*zip(params, call.args)]
        by_name = {p.arg: p for p in [*params, *args.kwonlyargs]}
        passed += [(by_name[k.arg], k.value) for k in call.keywords if k.arg in by_name]
        bound: dict[int, list[_Def]] = {}
        for param, arg in passed:
            protocol = self._protocol(init[0], param.annotation) if param.annotation else None
            impl = self._value_class(module, arg, mro, typed) if protocol else None
            if protocol and impl and not self._is_protocol(impl):
                bound[id(protocol)] = impl
        return _with_protocols(cls, bound)

    def _returned_protocols(self, module: str, fn: _Fn, mro: list[_Def]) -> dict[int, list[_Def]]:
        """The Protocol implementations the value `fn` returns was given
        (the same in every `return` that says any)."""
        key = (id(fn), _type_key(mro))
        if key in self._returned:
            return self._returned[key]
        self._returned[key] = {}  # a recursive call knows nothing more
        typed = self._typed_names(module, fn, mro)
        found: list[dict[int, list[_Def]]] = []
        for node in _in_order(fn):
            if isinstance(node, ast.Return) and node.value is not None:
                value = self._value_class(module, node.value, mro, typed)
                if value and _protocols(value):  # a return that says none does not disagree
                    found.append(_protocols(value))
        agreed = found[0] if found and all(f.keys() == found[0].keys() for f in found) else {}
        same = all(_type_key(f[p]) == _type_key(agreed[p]) for f in found for p in agreed)
        self._returned[key] = agreed if same else {}
        return self._returned[key]

    def _attribute_annotation(self, owner: list[_Def], attr: str) -> tuple[str, ast.expr] | None:
        """(module, annotation) of `attr` in a class: `attr: T` in the class
        body or `self.attr: T` in a method, the first in the MRO."""
        for module, cls in owner:
            for node in cls.body:
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    if node.target.id == attr:
                        return module, node.annotation
            for inner in ast.walk(cls):
                if (
                    isinstance(inner, ast.AnnAssign)
                    and isinstance(inner.target, ast.Attribute)
                    and isinstance(inner.target.value, ast.Name)
                    and inner.target.value.id == "self"
                    and inner.target.attr == attr
                ):
                    return module, inner.annotation
        return None

    def _protocol(self, module: str, ann: ast.expr) -> ast.ClassDef | None:
        """The Protocol class an annotation names (`P`, `P | None`), if it is one."""
        if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
            sides = [s for s in (ann.left, ann.right) if not _is_none(s)]
            return self._protocol(module, sides[0]) if len(sides) == 1 else None
        found = self._expr_def(module, ann)
        if found is not None and isinstance(found[1], ast.ClassDef):
            return found[1] if self._is_protocol(self.mro(found[0], found[1])) else None
        return None

    @staticmethod
    def _is_protocol(t: list[_Def]) -> bool:
        cls = t[0][1]
        bases = cls.bases if isinstance(cls, ast.ClassDef) else []
        return any(ast.unparse(b).rsplit(".", 1)[-1] == "Protocol" for b in bases)

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
            impl = _protocols(mro).get(id(found[1]))  # a Protocol this object implements
            return impl or self.mro(found[0], found[1])
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
                cls_mro = self._constructed(module, node, self.mro(found[0], found[1]), mro, typed)
                init = self.lookup(cls_mro, "__init__")
                if init is not None and isinstance(init[1], _FUNCTIONS):
                    yield init[0], init[1], cls_mro
        elif isinstance(node, ast.withitem):  # entered, and exited at the block's end
            entered = self._value_class(module, node.context_expr, mro, typed)
            for name in ("__enter__", "__exit__"):
                found = self.lookup(entered, name) if entered else None
                if entered and found is not None and isinstance(found[1], _FUNCTIONS):
                    yield found[0], found[1], entered


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


def _class_object(ann: ast.expr) -> ast.expr | None:
    """X of an annotation `type[X]` (`type[X] | None` too)."""
    if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
        sides = [s for s in (ann.left, ann.right) if not _is_none(s)]
        return _class_object(sides[0]) if len(sides) == 1 else None
    if isinstance(ann, ast.Subscript) and ast.unparse(ann.value) == "type":
        return ann.slice
    return None


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
    typevars: dict[str, ast.expr] = {}
    inline: dict[str, str] = {}
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
        elif isinstance(node, ast.Assign):
            bound = _typevar_bound(node)
            request = _inline_request(node, aliases)
            for t in node.targets:
                if bound is not None and isinstance(t, ast.Name):
                    typevars[t.id] = bound
                if request is not None and isinstance(t, ast.Name):
                    inline[t.id] = request
        elif isinstance(node, ast.If):  # TYPE_CHECKING blocks: Protocols mypy reads
            for inner in node.body:
                if isinstance(inner, (ast.ClassDef, *_FUNCTIONS)):
                    defs.setdefault(inner.name, inner)
    return _Module(name, tree, aliases, imported, defs, typevars, inline)


def _inline_request(node: ast.Assign, aliases: Mapping[str, str]) -> str | None:
    """The request of `X = _ioctl.inline("NAME", ...)` (vfio._ioctl.inline)."""
    call = node.value
    if (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and aliases.get(call.func.value.id) == "vfio._ioctl"
        and call.func.attr == "inline"
        and call.args
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    ):
        return call.args[0].value
    return None


def _typevar_bound(node: ast.Assign) -> ast.expr | None:
    """The bound of `X = TypeVar("X", bound=B)`."""
    call = node.value
    if isinstance(call, ast.Call) and ast.unparse(call.func).rsplit(".", 1)[-1] == "TypeVar":
        return next((k.value for k in call.keywords if k.arg == "bound"), None)
    return None


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
    if found is None:  # data: the module's own, or what it imports from a module of the package
        origin, original = pkg.modules[module].imported.get(name, (module, name))
        return _data(pkg.modules.get(origin, pkg.modules[module]), original)
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
