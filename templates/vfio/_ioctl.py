# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""The system calls behind every request function, one per argument kind.

Arguments are checked before the call (TypeError / ValueError, no syscall);
an OSError from the kernel becomes a VfioError naming the request, chained
`from` it (not `from None`, which would also hide an exception already in
flight when a cleanup request fails in `__exit__`).
"""

from __future__ import annotations

import array
import ctypes
import fcntl
from collections.abc import Callable
from typing import Any

from vfio.errors import VfioError

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1

ioctl_in_place: Callable[[int, int, Any, bool], int] = fcntl.ioctl
"""fcntl.ioctl typed as the request functions' fast path calls it (a buffer, mutated)."""
ioctl_int: Callable[[int, int, int], int] = fcntl.ioctl
"""... and with an integer argument."""

inline_ioctl: Callable[[int, int, bytearray, bool], Any] = fcntl.ioctl
"""fcntl.ioctl as the API's hot verbs (map/unmap, feature) call it with the
request they built and checked themselves: one Python call fewer than the
request function, a fifth of what such a verb costs in the guest. They look
it up here at call time (`_ioctl.inline_ioctl`), so a recorder or a test's
fake kernel can take its place; INLINE says which request a number is."""

INLINE: dict[int, tuple[str, str]] = {}
"""Request number -> (name, fd kind), for the requests issued through inline_ioctl."""


def inline(name: str, number: int, fd_kind: str) -> int:
    """Declare that a verb issues request `name` through inline_ioctl;
    returns its number. A number names one request here (VFIO's repeat
    across fd kinds: VFIO_IOMMU_MAP_DMA is VFIO_DEVICE_PCI_HOT_RESET's), so
    a second request with the same number cannot go inline."""
    known = INLINE.setdefault(number, (name, fd_kind))
    if known != (name, fd_kind):
        raise ValueError(f"request number {number:#x} is {known[0]} already, not {name}")
    return number


def inline_failed(exc: OSError, number: int) -> VfioError:
    """The VfioError for an inline request the kernel refused (raise it `from exc`)."""
    name, fd_kind = INLINE[number]
    return VfioError(exc.errno or 0, name, fd_kind)


def check_fd(fd: Any) -> int:
    """The slow path's fd check, in its own words. The request functions'
    fast path leaves the fd to fcntl.ioctl, which accepts the same (an int
    >= 0 or an object with fileno()) and also a bool, as fd 0 or 1."""
    if isinstance(fd, bool) or not isinstance(fd, int):
        if hasattr(fd, "fileno"):
            return check_fd(fd.fileno())
        raise TypeError(f"fd must be an int or have fileno(), not {type(fd).__name__}")
    if fd < 0:
        raise ValueError(f"fd must be >= 0, not {fd}")
    return fd


def check_int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{what} {value} is out of range [{low}, {high}]")
    return value


def none(fd: Any, number: int, request: str, fd_kind: str) -> int:
    fd = check_fd(fd)
    try:
        return int(fcntl.ioctl(fd, number, 0))
    except OSError as exc:
        raise VfioError(exc.errno or 0, request, fd_kind) from exc


def value(fd: Any, number: int, arg: int, request: str, fd_kind: str) -> int:
    fd = check_fd(fd)
    # fcntl.ioctl passes an integer argument as a C int: larger values cannot
    # reach the kernel at all (OverflowError), so they are refused here
    check_int(arg, f"{request} argument", 0, INT_MAX)
    try:
        return int(fcntl.ioctl(fd, number, arg))
    except OSError as exc:
        raise VfioError(exc.errno or 0, request, fd_kind) from exc


def int_ptr(fd: Any, number: int, arg: int, request: str, fd_kind: str) -> int:
    fd = check_fd(fd)
    buf = array.array("i", [check_int(arg, f"{request} argument", INT_MIN, INT_MAX)])
    try:
        return int(fcntl.ioctl(fd, number, buf, True))
    except OSError as exc:
        raise VfioError(exc.errno or 0, request, fd_kind) from exc


def string(fd: Any, number: int, text: str, request: str, fd_kind: str) -> int:
    fd = check_fd(fd)
    if not isinstance(text, str):
        raise TypeError(f"{request} takes a str, not {type(text).__name__}")
    if "\0" in text:
        raise ValueError(f"{request}: the string may not contain NUL")
    buf = bytearray(text.encode() + b"\0")  # mutable, so ioctl returns the result
    try:
        return int(fcntl.ioctl(fd, number, buf, True))
    except OSError as exc:
        raise VfioError(exc.errno or 0, request, fd_kind) from exc


def struct(fd: Any, number: int, arg: Any, cls: type, request: str, fd_kind: str) -> int:
    """`arg` is an instance of `cls`, or a writable buffer at least that big
    (a struct followed by its variable-length tail)."""
    fd = check_fd(fd)
    if isinstance(arg, cls):
        pass
    elif isinstance(arg, (bytearray, memoryview, ctypes.Array)):
        if isinstance(arg, memoryview) and arg.readonly:
            raise TypeError(f"{request}: the buffer must be writable")
        if len(memoryview(arg).cast("B")) < ctypes.sizeof(cls):
            raise ValueError(
                f"{request}: buffer of {len(memoryview(arg).cast('B'))} bytes is smaller "
                f"than struct {cls.__name__} ({ctypes.sizeof(cls)})"
            )
    else:
        raise TypeError(
            f"{request} takes struct {cls.__name__} or a writable buffer, "
            f"not {type(arg).__name__}"
        )
    try:
        return int(fcntl.ioctl(fd, number, arg, True))
    except OSError as exc:
        raise VfioError(exc.errno or 0, request, fd_kind) from exc
