"""The Python reference's reading of the package (vfiogen.emit.docs.pyapi)
on small packages whose answers are known, and the cookbook's shipping rule.
The facts on the real package are checked against Python itself in
tests/runtime/test_api_docs.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import release_spec
from vfiogen.emit.docs import cookbook, pyapi
from vfiogen.errors import DocsError

RUNTIME = "# The vfio runtime\n"
BASE = '''
from vfio import abi
from vfio import requests as rq


class Owned:
    def close(self) -> None:
        """Close it."""


class Device(Owned):
    """A device."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @property
    def info(self) -> int:
        return rq.vfio_device_get_info(self.fd, None)

    def regions(self) -> list[int]:
        """Every region."""
        return [self.info, self._region(0)]

    def _region(self, index: int) -> int:
        return rq.vfio_device_get_region_info(self.fd, index)

    def reset(self) -> None:
        fcntl.ioctl(self.fd, abi.VFIO_DEVICE_RESET)

    def other(self, thing: object) -> None:
        thing.regions()  # an object of unknown class: not followed


class Mixin(Device):
    @classmethod
    def open(cls, path: str) -> "Mixin":
        dev = cls(3)
        dev.reset()
        return dev

    @classmethod
    def again(cls, path: str) -> Self:
        return cls(4)

    def attach(self, device: Device) -> None:
        device.regions()  # the annotation says which class
'''
API = '''
from vfio._device import Device as _Device
from vfio._device import Mixin

__all__ = ["Device", "open_device"]


class Device(Mixin, _Device):
    """The combined device."""


def open_device(path: str) -> Device:
    """Open one."""
    return Device.open(path)


def maybe(path: str) -> Device | None:
    return None
'''


def entries() -> dict[str, pyapi.PyEntry]:
    files = {"vfio/_device.py": RUNTIME + BASE, "vfio/api.py": API}
    (api,) = [m for m in pyapi.reference(release_spec("7.2"), files) if m.name == "vfio.api"]
    out = {}
    for e in api.entries:
        out[e.name] = e
        out.update({m.name: m for m in e.members})
    return out


def test_requests_through_self_properties_classmethods_and_annotations() -> None:
    e = entries()
    assert e["Device.info"].kind == "property"
    assert e["Device.info"].requests == ("VFIO_DEVICE_GET_INFO",)
    assert e["Device.regions"].requests == ("VFIO_DEVICE_GET_INFO", "VFIO_DEVICE_GET_REGION_INFO")
    assert e["Device.reset"].requests == ("VFIO_DEVICE_RESET",)  # by its number in vfio.abi
    assert e["Device.other"].requests == ()
    assert e["Device.attach"].requests == ("VFIO_DEVICE_GET_INFO", "VFIO_DEVICE_GET_REGION_INFO")
    assert e["Device.open"].kind == "classmethod"
    assert e["Device.open"].requests == ("VFIO_DEVICE_RESET",)  # cls(...) is this class
    assert e["open_device"].requests == ("VFIO_DEVICE_RESET",)
    assert "Device._region" not in e  # private
    assert e["Device.close"].doc == "Close it."  # inherited through the MRO
    assert e["Device"].signature == "(fd: int)" and e["Device"].bases == ("Mixin",)
    assert e["Device.regions"].signature == "() -> list[int]"


@pytest.mark.parametrize(
    "program, requests",
    [
        ("d = api.open_device('x')\nd.regions()", ["GET_INFO", "GET_REGION_INFO", "RESET"]),
        (
            "with api.Device.open('p') as d:\n    d.regions()",
            ["GET_INFO", "GET_REGION_INFO", "RESET"],
        ),
        ("api.Device.again('p').regions()", ["GET_INFO", "GET_REGION_INFO"]),  # Self
        ("m = api.maybe('x')\nm.reset()", ["RESET"]),  # `Device | None`
        ("a, b = api.maybe('x'), api.Device(3)\nb.reset()", ["RESET"]),
        ("a, b = (api.maybe(p) for p in 'xy')\nb.info", ["GET_INFO"]),
        ("api.maybe('x').reset()", ["RESET"]),  # a method of a call's result
        ("d = api.maybe('x')\ndef f() -> None:\n    d.reset()\n", []),  # f never called
        ("d = api.maybe('x')\ndef f() -> None:\n    d.reset()\nf()", ["RESET"]),
        ("rq.vfio_device_reset(3)", ["RESET"]),
        ("d = object()\nd.reset()", []),  # a class the code does not say
    ],
)
def test_a_program_types_names_by_what_the_calls_return(program: str, requests: list[str]) -> None:
    """A program using the package (a cookbook recipe): a name's class comes
    from the return annotation of the call that made it (`Self`, `X | None`,
    tuples item by item, comprehensions by their element)."""
    files = {"vfio/_device.py": RUNTIME + BASE, "vfio/api.py": API}
    pkg = pyapi.Package(release_spec("7.2"), files)
    source = "from vfio import api\nfrom vfio import requests as rq\n" + program
    issued = pkg.program("recipe", "recipe.md", source)
    assert sorted(issued) == [f"VFIO_DEVICE_{r}" for r in requests]


SPACES = RUNTIME + """
from typing import TYPE_CHECKING, TypeVar

from vfio import requests as rq

if TYPE_CHECKING:
    from typing import Protocol

    class Space(Protocol):
        def map(self) -> None: ...

        def unmap(self) -> None: ...


class Buffer:
    def __init__(self, space: Space) -> None:
        self._space: Space | None = None
        space.map()
        self._space = space

    def close(self) -> None:
        space, self._space = self._space, None
        space.unmap()

    def __enter__(self) -> "Buffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Legacy:
    def map(self) -> None:
        rq.vfio_iommu_map_dma(3, None)

    def unmap(self) -> None:
        rq.vfio_iommu_unmap_dma(3, None)

    def buffer(self) -> Buffer:
        return Buffer(self)


class Ioas:
    def map(self) -> None:
        rq.iommu_ioas_map(3, None)

    def unmap(self) -> None:
        rq.iommu_ioas_unmap(3, None)

    def buffer(self) -> Buffer:
        return Buffer(space=self)


class Dev:
    def __init__(self) -> None:
        self.space: Space | None = None

    def buffer(self) -> Buffer:
        return Buffer(self.space)


D = TypeVar("D", bound=Dev)


def open_legacy(dev_class: type[D]) -> D:
    dev = dev_class()
    dev.space = Legacy()
    return dev


def open_cdev() -> Dev:
    dev = Dev()
    dev.space = Ioas()
    return dev
"""
LEGACY = ["VFIO_IOMMU_MAP_DMA", "VFIO_IOMMU_UNMAP_DMA"]
IOAS = ["IOMMU_IOAS_MAP", "IOMMU_IOAS_UNMAP"]


def test_a_protocol_typed_value_is_the_implementation_the_code_gives_it() -> None:
    (api,) = pyapi.reference(release_spec("7.2"), {"vfio/api.py": SPACES})
    e = {m.name: m for entry in api.entries for m in [entry, *entry.members]}
    assert e["Legacy.buffer"].requests == ("VFIO_IOMMU_MAP_DMA",)  # Buffer(self): Space is Legacy
    assert e["Ioas.buffer"].requests == ("IOMMU_IOAS_MAP",)  # by keyword too
    assert e["Dev.buffer"].requests == ()  # either: the class alone does not say which
    assert e["Buffer.close"].requests == e["Buffer"].requests == ()


@pytest.mark.parametrize(
    "program, requests",
    [
        ("with api.Legacy().buffer() as b:\n    pass", LEGACY),  # __exit__ closes it
        ("b = api.Ioas().buffer()", IOAS[:1]),
        ("b = api.Buffer(api.Ioas())\nb.close()", IOAS),
        ("api.open_legacy(api.Dev).buffer().close()", LEGACY),  # type[D], D's bound, dev.space =
        ("d = api.open_cdev()\nb = d.buffer()\nb.close()", IOAS),  # through what it returns
        ("api.Dev().buffer().close()", []),
        ("d = api.Dev()\nd.space = api.Ioas()\nd.buffer()", IOAS[:1]),
    ],
)
def test_a_program_follows_protocols_to_what_it_passes(program: str, requests: list[str]) -> None:
    pkg = pyapi.Package(release_spec("7.2"), {"vfio/api.py": SPACES})
    issued = pkg.program("recipe", "recipe.md", "from vfio import api\n" + program)
    assert sorted(issued) == sorted(requests)


def test_a_package_that_does_not_parse_is_an_error_with_its_position() -> None:
    files = {"vfio/api.py": "def broken(:\n"}
    with pytest.raises(DocsError, match="vfio/api.py:1"):
        pyapi.reference(release_spec("7.2"), files)


def test_cookbook_ships_a_page_when_the_spec_has_what_it_requires(tmp_path: Path) -> None:
    spec = release_spec("7.2")
    (tmp_path / "index.md").write_text(cookbook.HEADER + "\n# Cookbook\n")
    (tmp_path / "a.md").write_text(cookbook.HEADER + "\n% requires: VFIO_DEVICE_RESET\n")
    (tmp_path / "b.md").write_text(cookbook.HEADER + "\n% requires: VFIO_NO_SUCH_REQUEST\n")
    assert sorted(cookbook.pages(spec, tmp_path)) == ["cookbook/a.md", "cookbook/index.md"]
    (tmp_path / "c.md").write_text("# no header\n")
    with pytest.raises(DocsError, match="c.md:1: expected the cookbook header"):
        cookbook.pages(spec, tmp_path)
