"""The Python reference's facts against the real generated package: every
documented object exists with the documented signature, and every request
a page says an API object issues is issued when it is called (a fake kernel
answers every ioctl and records its request; a fake sysfs tree lets
open_pci and open_pci_cdev get that far). The facts come from the
generator's own reading of generated/vfio (vfiogen.emit.docs.pyapi), the
oracle is Python importing and calling that package."""

from __future__ import annotations

import ast
import ctypes
import fcntl
import gc
import importlib
import inspect
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vfiogen.emit.docs import pyapi
from vfiogen.ir import codec

GENERATED = Path(__file__).parents[2] / "generated"
sys.path.insert(0, str(GENERATED))

from vfio import abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402

EDU = "0000:00:03.0"
NULL_FD = os.open("/dev/null", os.O_RDWR)  # passed where a callee only borrows an fd
# Objects (a class or one method) the fake machine cannot reach the requests
# of, by name and why (each is called on real hardware by the guest tier).
NEEDS_MIGRATION_CAP = "needs a type1 container whose IOMMU info has CAP_MIGRATION"
NOT_TRACED = {
    "vfio.api.DirtyTracking": NEEDS_MIGRATION_CAP,
    "vfio.api.Container.dirty_tracking": NEEDS_MIGRATION_CAP,
}


def reference() -> list[pyapi.PyModule]:
    spec = codec.from_json((GENERATED / "spec.json").read_text())
    files = {
        str(p.relative_to(GENERATED)): p.read_text() for p in (GENERATED / "vfio").glob("*.py")
    }
    return pyapi.reference(spec, files)


MODULES = reference()


def flat(entries: list[pyapi.PyEntry]) -> Iterator[pyapi.PyEntry]:
    for e in entries:
        yield e
        yield from flat(e.members)


def documented() -> list[tuple[str, pyapi.PyEntry]]:
    return [(m.name, e) for m in MODULES for e in flat(m.entries)]


def test_the_reference_covers_the_public_api() -> None:
    names = {f"{m}.{e.name}" for m, e in documented()}
    for must in (
        "vfio.api.Device.region_info",
        "vfio.api.Device.irqs",
        "vfio.api.DmaBuffer",
        "vfio.api.Interrupt.wait",
        "vfio.api.Mmio.read32",
        "vfio.caps.walk",
        "vfio.requests.vfio_device_set_irqs",
        "vfio.devices.find",
        "vfio.errors.NotBoundError",
        "vfio.tails.build",  # the README names vfio.tails and vfio.fsm
        "vfio.fsm.StateMachine",
        "vfio.fsm.STATE_MACHINES",
    ):
        assert must in names
    assert {m.name for m in MODULES} == set(pyapi.PUBLIC_MODULES)


def _params(signature: str) -> list[tuple[str, str, str | None, str]]:
    """(name, annotation, default, kind) of a documented signature."""
    head = signature.split(" -> ")[0] if signature.startswith("(") else "()"
    fn = ast.parse(f"def f{head}: ...").body[0]
    assert isinstance(fn, ast.FunctionDef)
    a = fn.args
    out = []
    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for arg, d in zip(positional, defaults):
        out.append((arg.arg, ast.unparse(arg.annotation) if arg.annotation else "", d, "pos"))
    for arg, kd in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, ast.unparse(arg.annotation) if arg.annotation else "", kd, "kw"))
    return [(n, ann, ast.unparse(d) if d is not None else None, k) for n, ann, d, k in out]


def _annotation(a: Any) -> str:
    """An annotation as written (PEP 563 strings; NamedTuple fields keep ForwardRefs)."""
    if a is inspect.Parameter.empty:
        return ""
    return str(getattr(a, "__forward_arg__", a))


def _real(module: str, name: str) -> tuple[Any, Any]:
    """(owner, attribute as stored) of a documented name."""
    obj: Any = importlib.import_module(module)
    owner = obj
    for part in name.split("."):
        owner = obj
        try:
            obj = inspect.getattr_static(obj, part)
        except AttributeError:  # an instance attribute the class (or a base) annotates
            bases = owner.__mro__ if inspect.isclass(owner) else [owner]
            annotated = [vars(b).get("__annotations__", {}) for b in bases]
            assert any(part in a for a in annotated), f"{module}.{name}: no {part}"
            obj = None
    return owner, obj


@pytest.mark.parametrize(
    "module,entry", documented(), ids=[f"{m}.{e.name}" for m, e in documented()]
)
def test_documented_object_exists_with_that_signature(module: str, entry: pyapi.PyEntry) -> None:
    owner, obj = _real(module, entry.name)
    if entry.kind == "property":
        assert isinstance(obj, property)
        return
    if entry.kind in ("attribute", "data"):
        return  # found by _real: a class attribute or an annotation of the class
    if entry.kind == "classmethod":
        assert isinstance(obj, classmethod)
        obj = obj.__func__
    elif entry.kind == "staticmethod":
        assert isinstance(obj, staticmethod)
        obj = obj.__func__
    if entry.kind == "class":
        assert inspect.isclass(obj)
        if not entry.signature:
            return
        init = inspect.getattr_static(obj, "__init__")
        real = inspect.signature(obj if issubclass(obj, tuple) else init)
        params = [p for p in real.parameters.values() if p.name != "self"]
    else:
        assert inspect.isfunction(obj), f"{module}.{entry.name} is not a function"
        assert inspect.iscoroutinefunction(obj) == entry.coroutine
        real = inspect.signature(obj)
        params = list(real.parameters.values())
        if entry.kind in ("method", "classmethod"):
            params = params[1:]
        if " -> " in entry.signature:
            assert real.return_annotation == entry.signature.split(" -> ", 1)[1]
    shown = [
        (
            p.name,
            _annotation(p.annotation),
            "kw" if p.kind is inspect.Parameter.KEYWORD_ONLY else "pos",
        )
        for p in params
        if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    ]
    assert shown == [(n, ann, k) for n, ann, _, k in _params(entry.signature)]
    for p, (_, _, default, _) in zip(params, _params(entry.signature)):
        if default is None:
            continue
        assert p.default is not inspect.Parameter.empty
        where = vars(importlib.import_module(entry.defined_in.rsplit(".", 1)[0]))
        assert eval(default, dict(where)) == p.default  # a literal or a module constant


# --- the requests each object issues ------------------------------------------------


class FakeKernel:
    """Answers every ioctl of the vfio package: records the request, fills
    what the caller needs to go on, returns a new fd where the request does."""

    def __init__(self) -> None:
        # numbers are not unique (VFIO's _IO numbers repeat across fd kinds):
        # a call counts for every request with its number
        self.by_number: dict[int, set[str]] = {}
        for name, r in rq.REQUESTS.items():
            self.by_number.setdefault(r.number, set()).add(name)
        self.seen: list[str] = []
        self.expect: set[str] = set()  # the requests the call under test should issue

    def __call__(self, fd: int, number: int, arg: Any = 0, mutate: bool = True) -> int:
        names = self.by_number.get(number)
        assert names, f"ioctl {number:#x} is no request of the spec"
        self.seen += sorted(names)
        fits = [
            n
            for n in names
            if isinstance(arg, int)
            or rq.REQUESTS[n].type is None
            or ctypes.sizeof(rq.REQUESTS[n].type) <= len(memoryview(arg).cast("B"))
        ]
        # answered as the request the caller means when the number is shared
        # (VFIO_IOMMU_ENABLE is VFIO_DEVICE_GET_GFX_DMABUF's number), else the common one
        name = min(fits, key=lambda n: (n not in self.expect, "SPAPR" in n))
        req = rq.REQUESTS[name]
        if req.type is not None and not isinstance(arg, int):
            view = req.type.from_buffer(arg)
            if name == "VFIO_DEVICE_GET_INFO":
                view.num_regions, view.num_irqs = 1, 1
            elif name == "VFIO_DEVICE_GET_REGION_INFO":
                view.size = 0x1000
            elif name == "VFIO_DEVICE_GET_IRQ_INFO":
                view.count = 2  # interrupt()/interrupts() refuse vectors past it
            elif name == "VFIO_GROUP_GET_STATUS":
                view.flags = abi.VFIO_GROUP_FLAGS_VIABLE
            elif name == "VFIO_DEVICE_QUERY_GFX_PLANE":
                view.size = 1
            for field_name, _ in req.type._fields_:  # fds the kernel hands out: real ones
                if field_name.startswith("out_") and field_name.endswith("_fd"):
                    setattr(view, field_name, os.open("/dev/null", os.O_RDWR))
            del view
        if req.result == "fd":
            return os.open("/dev/null", os.O_RDWR)
        if name == "VFIO_GET_API_VERSION":
            return abi.VFIO_API_VERSION
        return 1 if req.result == "value" else 0


_REAL_IOCTL = fcntl.ioctl


def install(mp: pytest.MonkeyPatch, fake: FakeKernel) -> None:
    """fcntl.ioctl, and every name the package bound to it (the request
    functions' fast path), answer through `fake`."""
    mp.setattr(fcntl, "ioctl", fake)
    for mod in [m for n, m in sys.modules.items() if n == "vfio" or n.startswith("vfio.")]:
        for attr, value in list(vars(mod).items()):
            if value is _REAL_IOCTL:
                mp.setattr(mod, attr, fake)


@pytest.fixture()
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    """The fds the fake hands out are closed by what owns them, never here: a
    number closed twice may by then be another file (pytest's capture's)."""
    fake = FakeKernel()
    install(monkeypatch, fake)
    return fake


def fake_machine(root: Path) -> None:
    """edu on vfio-pci in group 5, with its cdev; nodes are plain files."""
    d = root / "sys/devices/pci0000:00" / EDU
    d.mkdir(parents=True)
    (root / "sys/bus/pci/devices").mkdir(parents=True)
    (root / "sys/bus/pci/devices" / EDU).symlink_to(d)
    for f, v in (("vendor", "0x1234"), ("device", "0x11e8"), ("class", "0x00ff00")):
        (d / f).write_text(v + "\n")
    (d / "config").write_bytes(bytes(64))
    drv = root / "sys/bus/pci/drivers/vfio-pci"
    drv.mkdir(parents=True)
    (d / "driver").symlink_to(drv)
    g = root / "sys/kernel/iommu_groups/5"
    (g / "devices").mkdir(parents=True)
    (g / "devices" / EDU).symlink_to(d)
    (d / "iommu_group").symlink_to(g)
    (d / "vfio-dev/vfio0").mkdir(parents=True)
    (root / "dev/vfio/devices").mkdir(parents=True)
    for node in ("dev/vfio/devices/vfio0", "dev/vfio/5", "dev/vfio/vfio", "dev/iommu"):
        (root / node).touch()


Call = Callable[[Path], object]


SPECIAL: dict[str, Callable[[], Any]] = {
    "Device": lambda: api.Device(os.open("/dev/null", os.O_RDWR), "null"),
    "Container": lambda: api.Container("/dev/null"),
    "Group": lambda: api.Group("/dev/null"),
    "Iommufd": lambda: api.Iommufd("/dev/null"),
}


def make(name: str) -> Any:
    """An object of vfio.api class `name` on /dev/null: its constructor's
    required parameters from ARGUMENTS, by annotation."""
    if name in SPECIAL:
        return SPECIAL[name]()
    cls = getattr(api, name)
    params = inspect.signature(cls).parameters.values()
    return cls(*[_argument(p) for p in params if p.default is p.empty])


def _argument(p: inspect.Parameter) -> object:
    if p.name == "fd":  # an fd the object will own and close: never 0 (stdin)
        return os.open("/dev/null", os.O_RDWR)
    return ARGUMENTS[_annotation(p.annotation)]()


def hw_info_of_bound(dev: Any) -> object:
    """Device.hw_info asks the iommufd the device is bound to: bind it first."""
    with api.Iommufd("/dev/null") as iommufd:
        dev.bind_iommufd(iommufd)
        return dev.hw_info()


# How to call what the signature alone does not say (module-level names and
# arguments a check refuses before the request).
CALLS: dict[str, Callable[[Any, Path], object]] = {
    "vfio.api.open_pci": lambda _, root: api.open_pci(EDU, root=str(root)),
    "vfio.api.Device.open_pci_cdev": lambda _, root: api.Device.open_pci_cdev(EDU, root),
    "vfio.api.Device.set_mig_state": lambda d, _: d.set_mig_state(abi.VfioDeviceMigState(1)),
    "vfio.api.Device.gfx_plane": lambda d, _: d.gfx_plane(),
    "vfio.api.Device.gfx_dmabuf": lambda d, _: d.gfx_dmabuf(1),
    "vfio.api.Device.ioeventfd": lambda d, _: d.ioeventfd(0, 0, 0, 4, NULL_FD),
    "vfio.api.Iommufd.set_compat_ioas": lambda f, _: f.set_compat_ioas(api.Ioas(f, 1)),
    "vfio.api.Ioas.copy": lambda i, _: i.copy(i, 0x100000, 0x1000),
    "vfio.api.Ioas.map_file": lambda i, _: i.map_file(NULL_FD, 0x1000),
    "vfio.api.Hwpt.invalidate": lambda h, _: h.invalidate(0, [abi.iommu_hwpt_vtd_s1_invalidate()]),
    "vfio.api.Hwpt.dirty_bitmap": lambda h, _: h.dirty_bitmap(0, 0x1000, 0x1000),
    "vfio.api.Container.map_dma": lambda c, _: c.map_dma(0x100000, 0x1000, 0x7000000),
    "vfio.api.Ioas.map_dma": lambda i, _: i.map_dma(0x100000, 0x1000, 0x7000000),
    "vfio.api.Container.unmap_dma": lambda c, _: c.unmap_dma(0x100000, 0x1000),
    "vfio.api.Device.hw_info": lambda d, _: hw_info_of_bound(d),
    "vfio.api.Container.dma_buffer": lambda c, _: c.dma_buffer(0x1000, 0x100000),
    "vfio.api.Ioas.dma_buffer": lambda i, _: i.dma_buffer(0x1000, 0x100000),
    "vfio.api.Ioas.unmap_dma": lambda i, _: i.unmap_dma(0x100000, 0x1000),
    "vfio.api.Device.enable_irq": lambda d, _: d.enable_irq(0, [-1]),
    "vfio.api.Device.interrupts": lambda d, _: [irq.close() for irq in d.interrupts(0, 2)],
    "vfio.api.Device.set_irqs": lambda d, _: d.set_irqs(
        0, abi.VFIO_IRQ_SET_DATA_NONE | abi.VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1
    ),
}
ARGUMENTS: dict[str, Callable[[], object]] = {
    "int": lambda: 0,
    "int | None": lambda: None,
    "str": lambda: "0000:00:03.0",
    "str | Path": lambda: "/dev/null",
    "str | Path | None": lambda: "/dev/null",
    "ObjectSpace": lambda: api.Iommufd("/dev/null"),
    "int | HasFileno": lambda: NULL_FD,  # not owned by the callee
    "Sequence[tuple[int, int]]": lambda: [(0x100000, 0x1FFFFF)],  # (start, last)
    "abi.vfio_device_ioeventfd": lambda: abi.vfio_device_ioeventfd(),
    "Device": lambda: api.Device(os.open("/dev/null", os.O_RDWR), "null"),
    "Dev": lambda: 1,  # a device id
    "OwnedId": lambda: api.Ioas(api.Iommufd("/dev/null"), 1),
    "bool": lambda: True,
    "type[ctypes.Structure]": lambda: abi.iommu_hwpt_pgfault,
    "ctypes.Structure": lambda: abi.iommu_hwpt_vtd_s1(),
    "Hwpt": lambda: api.Hwpt(api.Iommufd("/dev/null"), 1),
    "CdevDevice": lambda: api.Device(os.open("/dev/null", os.O_RDWR), "null"),
    "Sequence[ctypes.Structure]": lambda: [],
    "bytes": lambda: b"",
    "uuid.UUID": lambda: uuid.UUID(int=1),
    "Sequence[int]": lambda: [-1],
    "Sequence[Owned | int]": lambda: (),
    "Iommufd": lambda: api.Iommufd("/dev/null"),
    "Ioas": lambda: api.Ioas(api.Iommufd("/dev/null"), 1),
    "Container": lambda: api.Container("/dev/null"),
}


def _default_call(module: str, entry: pyapi.PyEntry) -> Callable[[Any, Path], object]:
    """Call with one plausible value per parameter, from its annotation."""
    params = [p for p in _params(entry.signature) if p[2] is None]

    def call(obj: Any, _root: Path) -> object:
        args = [ARGUMENTS[ann]() for _, ann, _, _ in params]
        if entry.kind == "property":
            return getattr(obj, entry.name.rsplit(".", 1)[-1])
        if "." not in entry.name:  # a module-level function
            return getattr(importlib.import_module(module), entry.name)(*args)
        return getattr(obj, entry.name.rsplit(".", 1)[-1])(*args)

    return call


def _requests_function_arg(name: str) -> list[object]:
    req = rq.REQUESTS[name]
    if req.type is not None:
        return [req.type()]
    return {"none": [], "value": [0], "int_ptr": [0], "string": ["x"]}[req.arg]


def issuing() -> list[tuple[str, pyapi.PyEntry]]:
    return [(m, e) for m, e in documented() if e.requests]


def issue(module: str, entry: pyapi.PyEntry, kernel: FakeKernel, root: Path) -> None:
    """Call one documented object on the fake machine at `root`."""
    fake_machine(root)
    kernel.expect = set(entry.requests)
    full = f"{module}.{entry.name}"
    owner = entry.name.split(".")[0] if "." in entry.name else None
    obj = make(owner) if owner and module == "vfio.api" else None
    if module == "vfio.requests":
        name = entry.requests[0]
        fd = os.open("/dev/null", os.O_RDWR)
        try:
            args = _requests_function_arg(name)
            result = getattr(rq, entry.name)(fd, *args)
            if rq.REQUESTS[name].result == "fd":
                os.close(result)
            for field_name, _ in getattr(rq.REQUESTS[name].type, "_fields_", []):
                if field_name.startswith("out_") and field_name.endswith("_fd"):
                    os.close(getattr(args[0], field_name))  # the fake's, nobody owns it
        finally:
            os.close(fd)
        return
    call = CALLS.get(full) or _default_call(module, entry)
    try:
        result = call(obj, root)
        if inspect.isgenerator(result):
            list(result)
        if hasattr(result, "close"):
            result.close()
    except (ValueError, OSError) as exc:  # refused after the request: the trace counts
        if not kernel.seen:
            raise AssertionError(f"{full} refused before any request: {exc!r}") from exc
    finally:
        if obj is not None and hasattr(obj, "close"):
            obj.close()


@pytest.mark.parametrize("module,entry", issuing(), ids=[f"{m}.{e.name}" for m, e in issuing()])
def test_documented_requests_are_issued(
    module: str, entry: pyapi.PyEntry, kernel: FakeKernel, tmp_path: Path
) -> None:
    full = f"{module}.{entry.name}"
    reason = NOT_TRACED.get(full) or NOT_TRACED.get(f"{module}.{entry.name.split('.')[0]}")
    if reason is not None:
        pytest.skip(f"{full}: {reason}")
    issue(module, entry, kernel, tmp_path)
    missing = set(entry.requests) - set(kernel.seen)
    assert not missing, f"{full}: the docs say it issues {sorted(missing)}; it issued {kernel.seen}"


def test_no_fd_is_left_open(tmp_path: Path) -> None:
    """Calling every documented object leaves no fd behind (each fd the fake
    kernel hands out is closed by the object that owns it)."""
    before = set(os.listdir("/proc/self/fd"))
    with pytest.MonkeyPatch.context() as mp:
        fake = FakeKernel()
        install(mp, fake)
        for i, (module, entry) in enumerate(issuing()):
            if f"{module}.{entry.name.split('.')[0]}" not in NOT_TRACED:
                issue(module, entry, fake, tmp_path / str(i))
    gc.collect()  # the arguments made for the calls (an Iommufd per Ioas) close when collected
    assert set(os.listdir("/proc/self/fd")) == before


def test_fake_kernel_is_what_the_package_calls(kernel: FakeKernel) -> None:
    """The trace sees the fast path too (a request function with a struct)."""
    fd = os.open("/dev/null", os.O_RDWR)
    try:
        info = abi.vfio_device_info()
        info.argsz = ctypes.sizeof(info)
        rq.vfio_device_get_info(fd, info)
    finally:
        os.close(fd)
    assert kernel.seen == ["VFIO_DEVICE_GET_INFO"] and info.num_regions == 1


def test_requests_issued_inline_are_documented() -> None:
    """The hot verbs issue their requests through vfio._ioctl.inline_ioctl,
    which the docs analysis sees only by the `_ioctl.inline(...)`
    declarations: each verb's entry must still name its request."""
    from vfio import _ioctl

    entries = {f"{m}.{e.name}": set(e.requests) for m, e in documented()}
    verbs = {
        "VFIO_IOMMU_MAP_DMA": "vfio.api.Container.map_dma",
        "VFIO_IOMMU_UNMAP_DMA": "vfio.api.Container.unmap_dma",
        "IOMMU_IOAS_MAP": "vfio.api.Ioas.map_dma",
        "IOMMU_IOAS_UNMAP": "vfio.api.Ioas.unmap_dma",
        "VFIO_DEVICE_FEATURE": "vfio.api.Device.feature",
    }
    assert {name for name, _ in _ioctl.INLINE.values()} == set(verbs)
    for request, verb in verbs.items():
        assert request in entries[verb], f"{verb}'s docs do not name {request}"
