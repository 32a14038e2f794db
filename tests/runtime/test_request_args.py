"""The checks that stop a bad argument before the kernel sees it, each hit
at its exact boundary. A refused argument raises TypeError/ValueError and
makes no system call; an accepted one reaches the kernel, which for
/dev/null answers ENOTTY (VfioError): that difference is what is asserted.

Rules: a value argument is passed as a C int, so it must be in [0, INT_MAX]
(INT_MAX + 1 would make fcntl raise OverflowError, the bug the kernel
fuzzer found); an int-pointer argument is in [INT_MIN, INT_MAX]; a struct
argument given as a buffer is at least the struct's size (else the kernel
writes past the caller's buffer) and writable.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import termios
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import _ioctl, abi  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import VfioError  # noqa: E402

INT_MAX = (1 << 31) - 1  # C's int on every Linux ABI
INT_MIN = -(1 << 31)


@pytest.fixture
def null_fd() -> Iterator[int]:
    fd = os.open(os.devnull, os.O_RDWR)
    yield fd
    os.close(fd)


def reaches_kernel(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VfioError) as err:
        call()
    assert err.value.errno == errno.ENOTTY


VALUE_REQUESTS = [n for n, r in rq.REQUESTS.items() if r.arg == "value"]
INT_PTR_REQUESTS = [n for n, r in rq.REQUESTS.items() if r.arg == "int_ptr"]
STRUCT_REQUESTS = [n for n, r in rq.REQUESTS.items() if r.arg == "struct"]


def function(name: str):  # type: ignore[no-untyped-def]
    return getattr(rq, name.lower())


def test_every_argument_kind_has_requests() -> None:
    assert "VFIO_CHECK_EXTENSION" in VALUE_REQUESTS and "VFIO_SET_IOMMU" in VALUE_REQUESTS
    assert "VFIO_GROUP_SET_CONTAINER" in INT_PTR_REQUESTS
    assert len(STRUCT_REQUESTS) > 20


@pytest.mark.parametrize("name", VALUE_REQUESTS)
@pytest.mark.parametrize("value", [0, INT_MAX])
def test_value_argument_in_range_reaches_the_kernel(null_fd: int, name: str, value: int) -> None:
    reaches_kernel(lambda: function(name)(null_fd, value))


@pytest.mark.parametrize("name", VALUE_REQUESTS)
@pytest.mark.parametrize("value", [INT_MAX + 1, (1 << 32) - 1, -1, INT_MIN])
def test_value_argument_out_of_int_range_is_refused(null_fd: int, name: str, value: int) -> None:
    """INT_MAX + 1 is the first value fcntl cannot pass as a C int."""
    with pytest.raises(ValueError, match=f"{name} argument {value} is out of range"):
        function(name)(null_fd, value)


@pytest.mark.parametrize("name", VALUE_REQUESTS)
def test_value_argument_must_be_an_int(null_fd: int, name: str) -> None:
    for bad in (True, 1.0, "1"):
        with pytest.raises(TypeError, match="must be an int"):
            function(name)(null_fd, bad)


@pytest.mark.parametrize("name", INT_PTR_REQUESTS)
@pytest.mark.parametrize(
    "value, ok", [(INT_MIN, True), (INT_MAX, True), (INT_MIN - 1, False), (INT_MAX + 1, False)]
)
def test_int_pointer_argument_bounds(null_fd: int, name: str, value: int, ok: bool) -> None:
    if ok:
        reaches_kernel(lambda: function(name)(null_fd, value))
    else:
        with pytest.raises(ValueError, match="out of range"):
            function(name)(null_fd, value)


@pytest.mark.parametrize("name", STRUCT_REQUESTS)
def test_struct_buffer_of_exactly_the_struct_size_reaches_the_kernel(
    null_fd: int, name: str
) -> None:
    size = ctypes.sizeof(rq.REQUESTS[name].type)
    reaches_kernel(lambda: function(name)(null_fd, bytearray(size)))
    reaches_kernel(lambda: function(name)(null_fd, bytearray(size + 1)))


@pytest.mark.parametrize("name", STRUCT_REQUESTS)
@pytest.mark.parametrize("short", [1, 8])
def test_struct_buffer_shorter_than_the_struct_is_refused(
    null_fd: int, name: str, short: int
) -> None:
    cls = rq.REQUESTS[name].type
    size = ctypes.sizeof(cls)
    if size < short:
        pytest.skip(f"struct {cls.__name__} has {size} bytes")
    with pytest.raises(
        ValueError,
        match=f"buffer of {size - short} bytes is smaller than struct {cls.__name__} \\({size}\\)",
    ):
        function(name)(null_fd, bytearray(size - short))


def test_struct_buffer_kinds(null_fd: int) -> None:
    """A memoryview or ctypes array counts its bytes, not its items; a
    read-only buffer and a foreign type are refused."""
    size = ctypes.sizeof(abi.vfio_device_info)
    reaches_kernel(lambda: rq.vfio_device_get_info(null_fd, abi.vfio_device_info()))
    reaches_kernel(lambda: rq.vfio_device_get_info(null_fd, memoryview(bytearray(size))))
    reaches_kernel(lambda: rq.vfio_device_get_info(null_fd, (ctypes.c_uint32 * (size // 4))()))
    with pytest.raises(ValueError, match="smaller"):
        rq.vfio_device_get_info(null_fd, (ctypes.c_uint32 * (size // 4 - 1))())
    with pytest.raises(ValueError, match="smaller"):
        rq.vfio_device_get_info(null_fd, memoryview(bytearray(size)).cast("I")[: size // 4 - 1])
    with pytest.raises(TypeError, match="writable"):
        rq.vfio_device_get_info(null_fd, memoryview(bytes(size)))
    with pytest.raises(TypeError, match="or a writable buffer, not bytes"):
        rq.vfio_device_get_info(null_fd, bytes(size))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not vfio_region_info"):
        rq.vfio_device_get_info(null_fd, abi.vfio_region_info())  # type: ignore[arg-type]


@pytest.mark.parametrize("fd, error", [(-1, ValueError), (True, TypeError), ("3", TypeError)])
def test_fd_is_checked_before_the_call(fd: object, error: type[Exception]) -> None:
    """The slow path (here a memoryview argument) checks the fd in its own words."""
    size = ctypes.sizeof(abi.vfio_device_info)
    with pytest.raises(error, match="fd must be"):
        rq.vfio_device_get_info(fd, memoryview(bytearray(size)))  # type: ignore[arg-type]


@pytest.mark.parametrize("fd, error", [(-1, ValueError), ("3", TypeError), (1.0, TypeError)])
@pytest.mark.parametrize(
    "call",
    [
        lambda fd: rq.vfio_group_get_status(fd, abi.vfio_group_status()),  # struct fast path
        lambda fd: rq.vfio_check_extension(fd, 1),  # value fast path
        lambda fd: rq.vfio_device_reset(fd),  # no-argument fast path
    ],
    ids=["struct", "value", "none"],
)
def test_fast_paths_check_the_fd_too(
    call: Callable[[object], object], fd: object, error: type[Exception]
) -> None:
    """The exact struct (or a plain int) goes straight to fcntl, which checks
    the fd itself: a negative fd or a non-descriptor still never reaches the
    kernel, and the error has the slow path's words. (A bool is an int to
    fcntl, fd 0 or 1: checking for it cost 5% of a request in the guest.)"""
    with pytest.raises(error, match="fd must be"):
        call(fd)


def test_fd_may_be_a_file_object() -> None:
    with open(os.devnull, "rb") as f:
        reaches_kernel(lambda: rq.vfio_get_api_version(f))  # type: ignore[arg-type]


def test_string_argument(null_fd: int) -> None:
    reaches_kernel(lambda: rq.vfio_group_get_device_fd(null_fd, "0000:00:01.0"))
    with pytest.raises(ValueError, match="may not contain NUL"):
        rq.vfio_group_get_device_fd(null_fd, "a\0b")
    with pytest.raises(TypeError, match="takes a str, not bytes"):
        rq.vfio_group_get_device_fd(null_fd, b"x")  # type: ignore[arg-type]


def test_fd_zero_is_a_valid_fd() -> None:
    """The fd check's boundary: 0 is an fd (stdin here), -1 is not."""
    saved = os.dup(0)
    try:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.close(null)
        reaches_kernel(lambda: rq.vfio_get_api_version(0))
        with pytest.raises(ValueError, match="fd must be >= 0, not -1"):
            rq.vfio_get_api_version(-1)
    finally:
        os.dup2(saved, 0)
        os.close(saved)


class _Int(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int)]


@pytest.fixture
def pipe_with_five_bytes() -> Iterator[int]:
    r, w = os.pipe()
    os.write(w, b"12345")
    yield r
    os.close(r)
    os.close(w)


def test_a_pointer_argument_is_written_back(pipe_with_five_bytes: int) -> None:
    """What the kernel writes through the pointer reaches the caller's buffer
    (fcntl's mutate flag): FIONREAD, a real ioctl that answers through its
    argument, on a pipe holding 5 bytes, through each pointer-taking kind."""
    fd = pipe_with_five_bytes
    buf = bytearray(4)
    assert _ioctl.struct(fd, termios.FIONREAD, buf, _Int, "FIONREAD", "pipe") == 0
    assert int.from_bytes(buf, sys.byteorder) == 5
    value = _Int()
    assert _ioctl.struct(fd, termios.FIONREAD, value, _Int, "FIONREAD", "pipe") == 0
    assert value.n == 5
    assert _ioctl.int_ptr(fd, termios.FIONREAD, 0, "FIONREAD", "pipe") == 0
    assert _ioctl.string(fd, termios.FIONREAD, "abcd", "FIONREAD", "pipe") == 0
