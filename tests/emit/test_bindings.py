"""The generated vfio package: layouts as ctypes really builds them, equal to
gcc's for every pinned release on x86_64, i386 and aarch64 (VFIO_ABI builds
another ABI's layout on this machine); typing, formatting, docstrings, and
behaviour without a device (every request against a file that answers
ENOTTY; argument checks before any system call)."""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import inspect as pyinspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gccprobe
from support import RELEASES, release_source, release_spec, require_compiler
from vfiogen.emit.reports import inspect
from vfiogen.emit import tree as render
from vfiogen.emit.bindings import runtime
from vfiogen.errors import VfiogenError

ROOT = Path(__file__).parents[2]
GENERATED = ROOT / "generated"
sys.path.insert(0, str(GENERATED))

import vfio  # noqa: E402
import vfio._base  # noqa: E402
from vfio import _device as runtime_device  # noqa: E402
from vfio import abi, api, requests  # noqa: E402
from vfio.errors import VfioError  # noqa: E402

DUMP = r"""
import ctypes, json, sys
import vfio.abi as abi, vfio.requests as rq
out = {"types": {}, "constants": {}}
for name, cls in vars(abi).items():
    if isinstance(cls, type) and hasattr(cls, "_kernel_size_") and not name.startswith("_"):
        fields = json.loads(sys.argv[1]).get(name, [])
        out["types"][name] = {"size": ctypes.sizeof(cls), "align": cls._kernel_align_,
                              "ctypes_align": ctypes.alignment(cls),
                              "offsets": {f: getattr(cls, f).offset for f in fields}}
    elif isinstance(cls, int) and not isinstance(cls, bool):
        out["constants"][name] = int(cls)
out["requests"] = {n: r.number for n, r in rq.REQUESTS.items()}
print(json.dumps(out))
"""


@functools.lru_cache(maxsize=None)
def bindings(release: str, tmp_root: str) -> Path:
    out = Path(tmp_root) / f"gen-{release}"
    if not out.exists():
        render.write_tree(render.render_tree(release_spec(release)), out)
    return out


def ctypes_facts(root: Path, abi_name: str, fields: dict[str, list[str]]) -> dict:
    env = {**os.environ, "VFIO_ABI": abi_name, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", DUMP, json.dumps(fields)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr  # the import-time layout checks passed
    return json.loads(out.stdout)


@pytest.mark.gcc
@pytest.mark.parametrize("abi_name", ["x86_64", "i386", "aarch64"])
@pytest.mark.parametrize("release", RELEASES)
def test_ctypes_layout_equals_gcc(
    release: str, abi_name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    require_compiler(abi_name)
    spec = release_spec(release)
    view = inspect.view(spec, abi_name)
    gcc = gccprobe.run(release_source(release), abi_name, view)
    root = bindings(release, str(tmp_path_factory.getbasetemp()))
    facts = ctypes_facts(root, abi_name, {t: list(v["fields"]) for t, v in view["types"].items()})
    checked = 0
    for tag, t in view["types"].items():
        got = facts["types"][tag]
        assert got["size"] == gcc[f"size:{tag}"], tag
        assert got["align"] == gcc[f"align:{tag}"], tag
        if abi_name == "x86_64":  # the native ABI: ctypes' own alignment is right too
            assert got["ctypes_align"] == gcc[f"align:{tag}"], tag
        for fname in t["fields"]:
            assert got["offsets"][fname] == gcc[f"offset:{tag}.{fname}"], f"{tag}.{fname}"
            checked += 1
    for name, value in view["constants"].items():
        ours = facts["requests"].get(name, facts["constants"].get(name))
        assert ours is not None, name
        assert (ours - gcc[f"value:{name}"]) % (1 << 64) == 0, name
    assert checked > 100


@pytest.mark.parametrize("release", ["7.2", "4.19"])  # the most and the fewest runtime parts
def test_generated_package_is_typed_and_formatted(
    release: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    mypy = shutil.which("mypy")
    if mypy is None:
        pytest.skip("mypy not installed (pip install '.[test]')")
    root = GENERATED if release == "7.2" else bindings(release, str(tmp_path_factory.getbasetemp()))
    out = subprocess.run([mypy, "--strict", "vfio"], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "black", "--check", "-q", "-l", "100", "vfio"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_runtime_ships_verbatim_and_only_what_the_headers_have() -> None:
    modules = {m.module: m for m in runtime.load_runtime()}
    for m in modules.values():  # byte for byte what is in templates/vfio/
        assert (GENERATED / "vfio" / m.file).read_bytes() == (
            runtime.runtime_dir() / m.file
        ).read_bytes()
    newest = runtime.defined_names(release_spec("7.2"))
    for m in modules.values():  # a misspelt requirement would silently drop its module
        assert set(m.requires) <= newest, m.file
    old = {m.module for m in runtime.shipped(release_spec("4.19"), list(modules.values()))}
    assert {"_device", "_legacy", "_dma"} <= old
    assert not old & {"_features", "_migration", "_iommufd"}  # 4.19 has none of their requests
    # ioeventfds came in 4.17; type1 dirty tracking in 5.8, PRECOPY_INFO in 6.2
    assert "_ioeventfd" in old and not old & {"_type1_dirty", "_precopy"}
    # vfio.api combines every part 7.2 has, and a group opens that Device
    assert {"feature", "migration_flags", "open_cdev", "irq_info"} <= set(dir(api.Device))
    assert api.Group.device_class is api.Device
    assert api.Device.__mro__[-4:] == (
        runtime_device.Device,
        vfio._base.Owned,
        vfio._base.Closing,
        object,
    )
    # iommufd's objects ship where their requests are: HWPTs and fault queues
    # since 6.11, the vIOMMU family with the hw queue (6.17)
    mid = {m.module for m in runtime.shipped(release_spec("6.13"), list(modules.values()))}
    assert "_iommufd_objects" in mid and "_viommu" not in mid
    assert {"Hwpt", "FaultQueue", "Viommu", "VeventQueue", "MigrationArcError"} <= set(api.__all__)


def test_runtime_declarations_are_checked(tmp_path: Path) -> None:
    (tmp_path / "_a.py").write_text(runtime.HEADER + "\nfrom vfio._b import X\n")
    (tmp_path / "_b.py").write_text(runtime.HEADER + "\nfrom vfio._a import Y\n")
    with pytest.raises(VfiogenError, match="import cycle _a -> _b -> _a"):
        runtime.load_runtime(tmp_path)
    (tmp_path / "_b.py").write_text(runtime.HEADER + "\n__requires__ = (1,)\n")
    with pytest.raises(VfiogenError, match=r"_b.py:1: __requires__ must be a tuple"):
        runtime.load_runtime(tmp_path)
    (tmp_path / "_b.py").write_text("import os\n")
    with pytest.raises(VfiogenError, match="_b.py:1: expected the runtime header line"):
        runtime.load_runtime(tmp_path)
    (tmp_path / "_b.py").write_text(runtime.HEADER + "\n__requires__ = ('NOT_A_NAME',)\n")
    order = runtime.load_runtime(tmp_path)
    assert [m.module for m in order] == ["_b", "_a"]  # imports first
    assert runtime.shipped(release_spec("7.2"), order) == []  # _b unmet, so _a (needs _b) too


def test_stamped_with_its_source() -> None:
    """The stamp is the sha256 of the header files' bytes as fetched (hashed
    here, not taken from the spec the package was rendered from)."""
    assert vfio.KERNEL_RELEASE == "7.2"
    files = release_source("7.2").headers
    assert [name for name, _ in files] == ["linux/vfio.h", "linux/iommufd.h"]
    assert vfio.HEADER_SHA256 == {
        name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files
    }


def test_every_public_name_has_a_docstring() -> None:
    for module in (abi, requests):
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if pyinspect.isclass(obj) or pyinspect.isfunction(obj):
                assert obj.__doc__ and obj.__doc__.strip(), name
    # kernel-doc text reaches the functions
    assert "Retrieve information about a device region" in (
        requests.vfio_device_get_region_info.__doc__ or ""
    )


def test_flags_and_enums_are_linked_from_fields() -> None:
    flags = abi.vfio_region_info.FIELD_VALUES["flags"]
    assert issubclass(flags, __import__("enum").IntFlag)
    assert flags.MMAP == abi.VFIO_REGION_INFO_FLAG_MMAP
    index = abi.vfio_region_info.FIELD_VALUES["index"]
    assert index.__name__ == "VfioPciRegionIndex"  # the PCI enum, named from its enumerators
    assert index.CONFIG_REGION_INDEX == abi.VFIO_PCI_CONFIG_REGION_INDEX == 7
    mig = abi.vfio_device_feature_mig_state.FIELD_VALUES["device_state"]
    assert mig(abi.VFIO_DEVICE_STATE_RUNNING).name == "RUNNING"
    # anonymous members are reachable as in C
    info = abi.iommu_hw_info()
    info.in_data_type = 3
    assert info.out_data_type == 3  # the same union storage


def test_sizes_that_naive_tools_get_wrong() -> None:
    assert ctypes.sizeof(abi.vfio_irq_set) == 20  # data[] counts 0 (ctypesgen says 32)
    assert ctypes.sizeof(abi.vfio_bitmap) == 24
    assert requests.REQUESTS["VFIO_DEVICE_GET_REGION_INFO"].type is abi.vfio_region_info


@pytest.fixture()
def enotty_fd():
    fd = os.open("/dev/null", os.O_RDWR)
    yield fd
    os.close(fd)


def _call(name: str, fd: int):
    req = requests.REQUESTS[name]
    fn = getattr(requests, name.lower())
    if req.arg == "none":
        return fn(fd)
    if req.arg in ("value", "int_ptr"):
        return fn(fd, 1)
    if req.arg == "string":
        return fn(fd, "0000:00:03.0")
    assert req.type is not None
    return fn(fd, req.type())


@pytest.mark.parametrize("name", sorted(requests.REQUESTS))
def test_every_request_reaches_the_kernel_and_fails_cleanly(name: str, enotty_fd: int) -> None:
    with pytest.raises(VfioError) as err:
        _call(name, enotty_fd)
    e = err.value
    assert isinstance(e, OSError) and e.errno == errno.ENOTTY
    assert e.request == name and e.fd_kind == requests.REQUESTS[name].fd
    assert name in str(e) and "ENOTTY" in str(e)


def test_arguments_are_checked_before_the_system_call() -> None:
    bad_fd = 1 << 20  # not open: a system call would say EBADF
    with pytest.raises(TypeError):
        requests.vfio_check_extension(bad_fd, "1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        requests.vfio_check_extension(bad_fd, -1)
    with pytest.raises(ValueError):
        requests.vfio_group_set_container(bad_fd, 1 << 40)
    with pytest.raises(ValueError):
        requests.vfio_group_get_device_fd(bad_fd, "bad\0name")
    with pytest.raises(TypeError):
        requests.vfio_device_get_region_info(bad_fd, abi.vfio_irq_info())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        requests.vfio_device_get_region_info(bad_fd, bytearray(4))
    with pytest.raises(ValueError):
        requests.vfio_device_reset(-1)
    with pytest.raises(TypeError):
        requests.vfio_device_reset("3")  # type: ignore[arg-type]
    with pytest.raises(VfioError) as err:  # and a real call does reach the kernel
        requests.vfio_device_reset(bad_fd)
    assert err.value.errno == errno.EBADF


def test_fast_path_fills_the_struct_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unchecked-again path (an int fd, the exact struct) hands the struct
    itself to the kernel: FIONREAD, in place of the request number, writes
    the pipe's byte count into its first field."""
    import termios

    r, w = os.pipe()
    try:
        os.write(w, b"abc")
        monkeypatch.setattr(requests, "VFIO_GROUP_GET_STATUS", termios.FIONREAD)
        status = abi.vfio_group_status()
        assert requests.vfio_group_get_status(r, status) == 0
        assert status.argsz == 3
        monkeypatch.setattr(requests, "VFIO_DEVICE_RESET", termios.FIOCLEX)
        assert requests.vfio_device_reset(r) is None
    finally:
        os.close(r)
        os.close(w)
