#!/usr/bin/env python3
# vfiogen's fuzz runtime, copied verbatim from templates/fuzz/kernel.py by `vfiogen build`.
# Edit it there; the spec's tables are in fuzz/kernel_spec.py.
"""Fuzz the kernel behind every VFIO and iommufd request, from the spec.

Runs where VFIO is real (the hardware tier's guest: vfio-pci and QEMU's edu):
opens a container, the device's group and the device, then for N iterations
issues one request, every request of every fd kind in turn (the order
shuffled per round), with its argument built from the spec's facts and broken
in one way, through the typed functions of vfio.requests. The same seed and
iterations on the same kernel and device give the same sequence of calls.

    python generated/fuzz/kernel.py --bdf 0000:00:03.0 --iterations 2000 --seed 7 --report r.json

Mutations (which apply to a request is decided from the spec): valid;
wrong_fd (the request on an fd of another kind); argsz_zero / argsz_small /
argsz_large / argsz_huge (the size field 0, below the minimum, beyond the
struct with a buffer that big, far beyond the buffer); flags_random /
flags_unknown (bits the spec does not define); index_out_of_range;
fields_random; count_lies (a count beyond the elements that follow);
address_bad (NULL, guard page, kernel or non-canonical addresses); fd_bad;
value_random; string_random / string_empty / string_long; fd_other.

Safety: address fields only ever point into a scratch mapping the fuzzer
owns, which ends at a PROT_NONE guard page; struct arguments live in an arena
that also ends at a guard page and are longer than 1 KiB, so fcntl.ioctl
hands the kernel that memory (a shorter buffer it copies into a 1 KiB stack
buffer, which a lying argsz would let the kernel write past); every fd field
gets an eventfd of its own, so no eventfd the kernel signals (an interrupt)
can fire an ioeventfd, which would write to the device.

The report (JSON) gives per request its calls, successes ("ok") and errnos,
the answers to each mutation and on each fd kind, and whether its kernel
handler was reached; in all, how many requests succeeded at least once and
which never did (a handler reached but never satisfied is a gap in the
arguments the spec lets the fuzzer build). Reached means: an answer other
than ENOTTY on an fd of its own kind, from a handler that serves it (for an
extension-gated request, CHECK_EXTENSION says so; otherwise the number
belongs to another request on that fd). Every
exception other than VfioError (or the TypeError/ValueError of an argument
check, made before any system call) is listed: there must be none.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import itertools
import json
import mmap
import os
import platform
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, NamedTuple

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parent.parent)  # generated/

from fuzz.facts import RECORDS, Struct, minsz, offset_of, size_of
from fuzz.kernel_rows import Feature, KernelBug, Req
from fuzz.kernel_spec import (
    EXTENSIONS,
    FEATURE_PROBE,
    FEATURES,
    IOMMU_DRIVERS,
    KERNEL_BUGS,
    REQUESTS,
)
from vfio import abi as _abi
from vfio import api as _api
from vfio import requests as _rq
from vfio.errors import VfioError

SPAPR_V1_SHARE: Final = 4  # the sPAPR TCE v1 phase has 1/SPAPR_V1_SHARE of the calls
SYZKALLER_REQUESTS: Final = 6  # described by hand in syzkaller's sys/linux/dev_vfio.txt
IOMMU: Final = "/dev/iommu"
PAGE: Final = mmap.PAGESIZE
ARENA: Final = 16 * PAGE
MIN_BUFFER: Final = 1025  # fcntl.ioctl copies buffers of up to 1024 bytes to its stack
HUGE_SIZES: Final = (0xFFFFFFFF, 0x80000000, 1 << 20, 1 << 16)
RANDOM_COUNTS: Final = (1, 2, 64, 1000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)
BAD_FDS: Final = (-1, -2, 1 << 20, 0x7FFFFFFF)
BAD_ADDRESSES: Final = (0, 1, 0xFFFFFFFF81000000, 0x8000000000000000, 0xFFFFFFFFFFFFF000)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


class Guarded:
    """`size` bytes of anonymous memory followed by a PROT_NONE page, so the
    kernel faults (EFAULT) instead of running past them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.mm = mmap.mmap(-1, size + PAGE)
        self._anchor = ctypes.c_char.from_buffer(self.mm)
        self.base = ctypes.addressof(self._anchor)
        self.guard = self.base + size
        if _libc.mprotect(self.guard, PAGE, 0) != 0:
            raise OSError(ctypes.get_errno(), "mprotect of the guard page failed")

    def ending_at_guard(self, data: bytes, length: int) -> ctypes.Array[ctypes.c_char]:
        """`data` at the start of a `length`-byte buffer that ends at the guard page."""
        view = (ctypes.c_char * length).from_address(self.guard - length)
        ctypes.memset(view, 0, length)
        ctypes.memmove(view, data, len(data))
        return view

    def close(self) -> None:
        del self._anchor
        self.mm.close()


def open_fds() -> set[int]:
    """The open file descriptors (not the one the listing itself used)."""
    listed = {int(n) for n in os.listdir("/proc/self/fd")}
    return {fd for fd in listed if _is_open(fd)}


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def kernel_log_reader() -> int | None:
    """/dev/kmsg positioned at its end: what is read from it later was logged
    during the run (None where the log cannot be read)."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    os.lseek(fd, 0, os.SEEK_END)
    return fd


def kernel_log_lines(fd: int | None) -> list[str]:
    lines: list[str] = []
    while fd is not None:
        try:
            record = os.read(fd, 8192).decode(errors="replace")
        except BlockingIOError:
            break
        except BrokenPipeError:  # records were overwritten: go on with the next
            continue
        lines.append(record.split(";", 1)[-1].split("\n", 1)[0])
    return lines


class Stack:
    """The real VFIO objects: a container with the device's group and the
    device (and an iommufd where the kernel has one). The container's IOMMU
    model is `iommu`, else the best one the kernel offers (sPAPR TCE v2 on
    POWER, type1v2 elsewhere): the container requests go to its driver."""

    def __init__(self, bdf: str, group: int, iommu: int | None = None) -> None:
        self.container = _api.Container()
        self.group = _api.Group(group)
        self.group.set_container(self.container)
        self.iommu: int | None = self.container.set_iommu(iommu)
        self.device = self.group.open_device(bdf)
        self.iommufd: int | None = None  # a plain fd: older bindings have no iommufd API
        try:
            self.iommufd = os.open(IOMMU, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            pass  # no /dev/iommu: its requests go to the other fds

    @property
    def fds(self) -> dict[str, int]:
        out = {"container": self.container.fd, "group": self.group.fd, "device": self.device.fd}
        if self.iommufd is not None:
            out["iommufd"] = self.iommufd
        return out

    def extensions(self) -> dict[int, int]:
        return {e: self.container.check_extension(e) for e in EXTENSIONS}

    def close(self) -> list[str]:
        """Tear down; the problems met on the way (a group detached by a request...)."""
        problems = []
        self.device.close()
        try:
            self.group.unset_container()
        except VfioError as exc:
            problems.append(f"unset_container: {exc}")
        self.group.close()
        self.container.close()
        if self.iommufd is not None:
            os.close(self.iommufd)
        return problems


class CdevStack:
    """The iommufd path: /dev/iommu and the device's VFIO cdev, not bound yet
    (BIND_IOMMUFD among the fuzzed requests binds it). The cdev cannot be
    opened while the group path has the device, so this is a phase of its own."""

    iommu = None  # no container

    def __init__(self, cdev: Path) -> None:
        self.iommufd = os.open(IOMMU, os.O_RDWR | os.O_CLOEXEC)
        try:
            self.device = os.open(cdev, os.O_RDWR | os.O_CLOEXEC)
        except BaseException:
            os.close(self.iommufd)
            raise

    @property
    def fds(self) -> dict[str, int]:
        return {"device": self.device, "iommufd": self.iommufd}

    def extensions(self) -> dict[int, int]:
        return {}  # no container to ask

    def close(self) -> list[str]:
        os.close(self.device)
        os.close(self.iommufd)
        return []


def cdev_of(bdf: str) -> Path | None:
    """The device's VFIO cdev (/dev/vfio/devices/vfioN) when the kernel has
    the cdev and iommufd, else None."""
    names = sorted(p.name for p in Path(f"/sys/bus/pci/devices/{bdf}/vfio-dev").glob("vfio*"))
    node = Path("/dev/vfio/devices") / names[0] if len(names) == 1 else None
    return node if node is not None and node.exists() and Path(IOMMU).exists() else None


class Rig:
    """What the fuzzer gives requests: the fds of each kind there is, an fd of
    no VFIO kind, eventfds, and the memory struct arguments and address
    fields use. `iommu`: the container's IOMMU model, when known."""

    def __init__(
        self, bdf: str, fds: dict[str, int], extensions: dict[int, int], iommu: int | None = None
    ) -> None:
        self.bdf = bdf
        self.fds = dict(fds)
        self.extensions = extensions
        self.iommu = iommu
        self.other = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.eventfds: dict[str, int] = {}
        self.arena = Guarded(ARENA)  # struct arguments
        self.scratch = Guarded(ARENA)  # what address fields point at
        self.owned = open_fds()

    def eventfd(self, key: str) -> int:
        """An eventfd of one field's own (see the module's Safety)."""
        if key not in self.eventfds:
            self.eventfds[key] = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            self.owned.add(self.eventfds[key])
        return self.eventfds[key]

    def address(self, rng: random.Random) -> int:
        return rng.choice((self.scratch.base, self.scratch.base + PAGE, self.scratch.base + 64))

    def bad_address(self, rng: random.Random) -> int:
        s = self.scratch
        return rng.choice(BAD_ADDRESSES + (s.guard, s.guard - 8, s.base + 1))

    def bad_fd(self, rng: random.Random) -> int:
        fds = tuple(self.fds[k] for k in ("container", "group") if k in self.fds)
        return rng.choice(BAD_FDS + fds + (self.other,))

    def close_new_fds(self) -> int:
        """Close fds a request opened (a device fd, a dma-buf...); how many."""
        new = open_fds() - self.owned
        for fd in new:
            try:
                os.close(fd)
            except OSError:
                pass  # gone between the listing and here (the listing's own fd)
        return len(new)

    def close(self) -> None:
        """After the VFIO objects are closed: DMA maps pin scratch pages."""
        for fd in [self.other, *self.eventfds.values()]:
            os.close(fd)
        self.arena.close()
        self.scratch.close()


def read(raw: memoryview, cls: Struct, name: str) -> int:
    """A member of `cls` from the bytes of an argument laid out as `cls`."""
    at = offset_of(cls, name)
    return int.from_bytes(raw[at : at + size_of(cls, name)], sys.byteorder)


def put(obj: Any, name: str, value: int) -> None:
    """Set a member, truncated to its width as C would."""
    bits = 8 * getattr(type(obj), name).size
    setattr(obj, name, value & ((1 << bits) - 1))


def width_of(obj: Any, name: str) -> int:
    return int(getattr(type(obj), name).size)


def plausible(rng: random.Random, width: int) -> int:
    """Small numbers and whole pages (what sizes, offsets and IOVAs are), or any."""
    return rng.choice((0, 0, 1, 2, PAGE, PAGE, 16 * PAGE, rng.getrandbits(8 * width)))


def fill(obj: Any, rig: Rig, rng: random.Random, inputs: tuple[str, ...] | None) -> None:
    """Members with facts get values the spec allows; other inputs plausible
    values; nested structs likewise."""
    cls = type(obj)
    facts = RECORDS.get(cls)
    for name, ctype in cls._fields_:
        if name.startswith("_vfio_"):
            continue
        if isinstance(ctype, type) and issubclass(ctype, (ctypes.Structure, ctypes.Union)):
            fill(getattr(obj, name), rig, rng, None)
            continue
        if isinstance(ctype, type) and issubclass(ctype, ctypes.Array) or facts is None:
            continue
        if name in facts.flags:
            put(obj, name, rng.getrandbits(32) & facts.flags[name])
        elif name in facts.values:
            put(obj, name, rng.choice(facts.values[name]))
        elif name in facts.addresses:
            put(obj, name, rig.address(rng))
        elif name in facts.fds:
            kind = facts.fds[name]
            fd = rig.fds[kind] if kind in rig.fds else rig.eventfd(f"{facts.name}.{name}")
            put(obj, name, fd)
        elif inputs is None or name in inputs:
            put(obj, name, plausible(rng, width_of(obj, name)))


class Built(NamedTuple):
    body: bytes
    backed: int  # bytes of real memory behind the argument


def same_driver(model: int | None, other: int | None) -> bool:
    """Whether two IOMMU models may be served by one kernel driver (type1
    serves VFIO_TYPE1_IOMMU and VFIO_TYPE1v2_IOMMU alike); unknown: yes."""
    if model is None or other is None or model == other:
        return True
    return bool(IOMMU_DRIVERS.get(model, frozenset()) & IOMMU_DRIVERS.get(other, frozenset()))


class Fuzzer:
    """Builds and issues one call at a time; `reproduce` lets the known kernel
    bugs through instead of steering around them."""

    def __init__(
        self, rig: Rig, rng: random.Random, reproduce: bool = False, log: int | None = None
    ) -> None:
        self.rig = rig
        self.rng = rng
        self.reproduce = reproduce
        self.log = log  # /dev/kmsg: what the kernel logs is tied to the call that made it
        self.logged: list[dict[str, Any]] = []
        self.functions: dict[str, Callable[..., int]] = {
            r.name: getattr(_rq, r.function) for r in REQUESTS
        }
        self.known = Counter[str]()  # known kernel bug -> calls that would have hit it

    def steer(self, kind: str, req: Req, arg: Any) -> None:
        """When the call would reach a known kernel bug (the handler its number
        reaches on this fd kind, whichever request built the argument), change
        the triggering bits, unless reproducing; count it either way. A bug of
        driver that does not serve the container's IOMMU model is not in the way."""
        if not isinstance(arg, ctypes.Array):
            return
        number = _rq.REQUESTS[req.name].number
        raw = memoryview(arg).cast("B")
        for bug in KERNEL_BUGS:
            owner = _rq.REQUESTS[bug.request]
            end = bug.offset + bug.size
            if owner.fd != kind or owner.number != number or len(raw) < end:
                continue
            if not same_driver(bug.iommu, self.rig.iommu):
                continue
            size_field = RECORDS[bug.cls].size_field
            if size_field is not None and read(raw, bug.cls, size_field) < bug.need:
                continue
            if bug.flag is not None:
                flags = read(raw, bug.cls, "flags")
                if not (flags == bug.flag if bug.exact else flags & bug.flag):
                    continue
            value = int.from_bytes(raw[bug.offset : end], sys.byteorder)
            if (value & bug.mask == 0) if bug.nonzero else (value & bug.mask != bug.match):
                continue
            self.known[bug.name] += 1
            if not self.reproduce:
                value = value & ~bug.mask | bug.fix
                raw[bug.offset : end] = value.to_bytes(bug.size, sys.byteorder)

    # -- arguments -------------------------------------------------------------

    def element(self, element: Any) -> bytes:
        """One tail element: an fd of its kind, a byte, an int, a struct."""
        if isinstance(element, str) and element.startswith("fd:"):
            kind = element[3:]
            fd = self.rig.fds[kind] if kind in self.rig.fds else self.rig.eventfd(f"tail {kind}")
            return fd.to_bytes(4, sys.byteorder, signed=True)
        if element == "u8":
            return bytes([self.rng.choice((0, 1))])
        if element == "s32":
            return self.rng.getrandbits(31).to_bytes(4, sys.byteorder)
        payload = bytearray(ctypes.sizeof(element))
        fill(element.from_buffer(payload), self.rig, self.rng, None)
        return bytes(payload)

    def struct(self, req: Req, mutation: str) -> Built:
        rng, rig = self.rng, self.rig
        assert req.cls is not None
        cls = req.cls
        facts = RECORDS[cls]
        head = bytearray(ctypes.sizeof(cls))
        obj = cls.from_buffer(head)
        fill(obj, rig, rng, facts.inputs)
        tail = b""
        fd_tail = False  # the tail is a list of fds
        count_field = req.count_field
        if req.selector == "feature" and FEATURES:
            feature = rng.choice(FEATURES)
            op = rng.choice(feature.ops + (FEATURE_PROBE,))
            put(obj, "flags", feature.code | op)
            if feature.payload is not None:
                tail = self.element(feature.payload)
        elif req.selector is not None and req.cases:
            flag, element = rng.choice(req.cases)
            mask = facts.flags.get(req.selector, 0)
            cases = {c for c, _ in req.cases}
            others = [1 << i for i in range(32) if mask >> i & 1 and 1 << i not in cases]
            put(obj, req.selector, flag | rng.choice(others + [0]))
            n = rng.choice((0, 1, 1, 2)) if element != "none" or count_field else 0
            tail = b"".join(self.element(element) for _ in range(n if element != "none" else 0))
            fd_tail = isinstance(element, str) and element.startswith("fd:")
            if count_field:
                put(obj, count_field, n)
        elif count_field is not None:
            n = rng.choice((0, 1, 2))
            tail = b"".join(self.element(req.element) for _ in range(n))
            fd_tail = isinstance(req.element, str) and req.element.startswith("fd:")
            put(obj, count_field, n)
        del obj
        data = bytearray(head + tail)
        obj = cls.from_buffer(data)
        backed = len(data)
        size_field = facts.size_field
        if size_field is not None:
            put(obj, size_field, len(data))
        if mutation == "argsz_zero" and size_field:
            put(obj, size_field, 0)
        elif mutation == "argsz_small" and size_field:
            put(obj, size_field, rng.randrange(1, max(2, minsz(cls))))
        elif mutation == "argsz_large" and size_field:
            backed = len(data) + rng.choice((1, 4, 8, 64, 512, 4096))
            put(obj, size_field, backed)
        elif mutation == "argsz_huge" and size_field:
            put(obj, size_field, rng.choice(HUGE_SIZES))
        elif mutation == "flags_random" and facts.flags:
            name = rng.choice(sorted(facts.flags))
            put(obj, name, rng.getrandbits(8 * width_of(obj, name)) & facts.flags[name])
        elif mutation == "flags_unknown" and facts.flags:
            name = rng.choice(sorted(facts.flags))
            bits = 8 * width_of(obj, name)
            unknown = [1 << i for i in range(bits) if not facts.flags[name] >> i & 1]
            if unknown:
                put(obj, name, getattr(obj, name) | rng.choice(unknown))
        elif mutation == "index_out_of_range" and facts.values:
            name = rng.choice(sorted(facts.values))
            top = max(facts.values[name])
            put(obj, name, rng.choice((top + 1, top + 2, top + 16, top + (1 << 16), -1)))
        elif mutation == "fields_random" and facts.inputs:
            for name in facts.inputs:
                safe = name in facts.addresses or name in facts.fds or name == count_field
                if not safe and isinstance(getattr(obj, name, None), int):
                    put(obj, name, rng.getrandbits(8 * width_of(obj, name)))
        elif mutation == "count_lies" and count_field:
            put(obj, count_field, getattr(obj, count_field) + rng.choice(RANDOM_COUNTS))
            if size_field and rng.random() < 0.5:  # the size claims the tail too
                put(obj, size_field, len(data) + rng.choice(RANDOM_COUNTS) * 4)
        elif mutation == "address_bad" and facts.addresses:
            put(obj, rng.choice(facts.addresses), rig.bad_address(rng))
        elif mutation == "fd_bad":
            if facts.fds:
                put(obj, rng.choice(sorted(facts.fds)), rig.bad_fd(rng))
            elif fd_tail:
                fds = [rig.bad_fd(rng) for _ in range(len(tail) // 4)]
                data[len(head) :] = b"".join(f.to_bytes(4, sys.byteorder, signed=True) for f in fds)
        del obj
        return Built(bytes(data), backed)

    def argument(self, req: Req, mutation: str) -> Any:
        rng, rig = self.rng, self.rig
        if req.arg == "none":
            return None
        if req.arg == "value":
            if mutation == "value_random":
                return rng.choice((rng.getrandbits(32), rng.getrandbits(63), 0xFFFFFFFF, 0))
            return rng.choice(EXTENSIONS) if EXTENSIONS else 0
        if req.arg == "int_ptr":
            if mutation == "fd_other":
                return rng.choice(
                    [*(fd for k, fd in sorted(rig.fds.items()) if k != req.int_fd), rig.other, -1]
                )
            if mutation == "value_random":
                return rng.choice((-1, 0, 1, rng.getrandbits(31), 0x7FFFFFFF))
            return rig.fds[req.int_fd] if req.int_fd in rig.fds else rng.getrandbits(16)
        if req.arg == "string":
            if mutation == "string_empty":
                return ""
            if mutation == "string_long":
                return rig.bdf + "x" * rng.choice((64, 4096, 65536))
            if mutation == "string_random":
                return "".join(
                    rng.choice("0123456789abcdef:.") for _ in range(rng.randrange(1, 20))
                )
            return rig.bdf
        built = self.struct(req, mutation)
        view = self.rig.arena.ending_at_guard(built.body, max(built.backed, MIN_BUFFER))
        return view

    # -- one call --------------------------------------------------------------

    def fd_for(self, req: Req, mutation: str) -> tuple[str, int]:
        fds = self.rig.fds
        if mutation == "wrong_fd" or req.fd not in fds:
            kinds = [k for k in sorted(fds) if k != req.fd] + ["other"]
            kind = self.rng.choice(kinds)
            return kind, fds.get(kind, self.rig.other)
        return req.fd, fds[req.fd]

    def call(self, req: Req, mutation: str) -> tuple[str, str, str | None]:
        """(fd kind, outcome, the unexpected exception's report)."""
        kind, fd = self.fd_for(req, mutation)
        arg = self.argument(req, mutation)
        self.steer(kind, req, arg)
        fn = self.functions[req.name]
        shown = bytes(arg).rstrip(b"\0").hex() if isinstance(arg, ctypes.Array) else repr(arg)
        unexpected = None
        try:
            fn(fd) if req.arg == "none" else fn(fd, arg)
            outcome = "ok"
        except VfioError as exc:
            outcome = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        except (TypeError, ValueError):
            outcome = "rejected"  # the bindings' argument check, before any system call
        except Exception:  # a finding: the bindings let something else escape
            outcome = "unexpected"
            unexpected = traceback.format_exc(limit=4)
        if req.opens_fd:
            self.rig.close_new_fds()
        lines = kernel_log_lines(self.log)
        if lines:
            self.logged.append(
                {
                    "request": req.name,
                    "mutation": mutation,
                    "fd_kind": kind,
                    "outcome": outcome,
                    "argument": shown,
                    "log": lines,
                }
            )
        return kind, outcome, unexpected


def reached(
    req: Req, stats: dict[str, Any], kinds: set[str], extensions: dict[int, int]
) -> tuple[bool, str]:
    """Whether the request's kernel handler answered, and why not: `kinds` are
    the fd kinds the campaign had, `extensions` what CHECK_EXTENSION said."""
    if req.extension is not None and not extensions.get(req.extension):
        owner = f": on this fd the number is {', '.join(req.shares)}'s" if req.shares else ""
        return False, f"extension {req.extension} not supported{owner}"
    if req.fd not in kinds:
        return False, f"no {req.fd} fd on this kernel"
    own = stats["fd_kinds"].get(req.fd, {})
    if not own:
        return False, "never issued on its own fd kind"
    if set(own) <= {"ENOTTY", "rejected", "unexpected"}:
        since = _rq.REQUESTS[req.name].since
        if since and version(since) > version(platform.release()):
            return False, f"ENOTTY: added in Linux {since}, after this kernel"
        return False, "every answer on its own fd kind was ENOTTY"
    return True, ""


def version(release: str) -> tuple[int, ...]:
    """(6, 12) of "6.12.95-vfiogen" or "6.12": the series, to compare."""
    return tuple(int(x) for x in release.split("-")[0].split(".")[:2] if x.isdigit())


def record_answers(rig: Rig) -> list[dict[str, Any]]:
    """The kernel's answers to every query request (its size and index fields
    only), for every value of its index fields: seeds of the decoder fuzzers."""
    out = []
    for req in REQUESTS:
        if not req.query or req.fd not in rig.fds or req.cls is None:
            continue
        if req.extension is not None and not rig.extensions.get(req.extension):
            continue
        facts = RECORDS[req.cls]
        fn = getattr(_rq, req.function)
        axes = [facts.values.get(f, (0,)) for f in req.index_fields]
        for combo in itertools.product(*axes):
            size = ctypes.sizeof(req.cls)
            for _ in range(4):  # argsz "grow": again with the size the kernel asked for
                buf = bytearray(max(size, MIN_BUFFER))
                obj = req.cls.from_buffer(buf)
                for name, value in zip(req.index_fields, combo):
                    put(obj, name, value)
                if facts.size_field:
                    put(obj, facts.size_field, size)
                del obj
                try:
                    fn(rig.fds[req.fd], buf)
                except VfioError:
                    buf = bytearray()
                    break
                wanted = (
                    getattr(req.cls.from_buffer(buf), facts.size_field) if facts.size_field else 0
                )
                if wanted <= size or wanted > ARENA:
                    break
                size = wanted
            if buf:
                out.append(
                    {
                        "request": req.name,
                        "args": dict(zip(req.index_fields, combo)),
                        "hex": bytes(buf[:size]).hex(),
                    }
                )
    return out


def answers_toml(answers: list[dict[str, Any]], kernel: str, device: str) -> str:
    """The answers in the format of vfiogen's headers/kernel-answers.toml."""
    lines = [
        "# Real kernel answers to the query requests, recorded by the hardware tier",
        "# (tests/hardware/guest/test_fuzz_kernel.py): seeds of the decoder fuzzers.",
        "# Refresh: python tests/hardware/rig.py run 7.2 --work W -- \\",
        "#   tests/hardware/guest/test_fuzz_kernel.py; then copy W/kernel-answers.toml here.",
    ]
    for a in answers:
        args = ", ".join(f"{k} = {v}" for k, v in a["args"].items())
        lines += [
            "",
            "[[answer]]",
            f'request = "{a["request"]}"',
            "args = { " + args + " }" if args else "args = {}",
            f'kernel = "{kernel}"',
            f'abi = "{_abi_name()}"',
            f'device = "{device}"',
            f'hex = "{a["hex"]}"',
        ]
    return "\n".join(lines) + "\n"


def _abi_name() -> str:
    from vfio import _layout

    return _layout.ABI


class Campaign:
    """The calls made and what each one answered, per request."""

    def __init__(self) -> None:
        self.stats: dict[str, dict[str, Any]] = {
            r.name: {"calls": 0, "ok": 0, "errnos": Counter(), "mutations": {}, "fd_kinds": {}}
            for r in REQUESTS
        }
        self.unexpected: list[dict[str, str]] = []
        self.calls = 0
        self.elapsed = 0.0
        self.stopped_early = False

    def record(self, req: Req, mutation: str, kind: str, outcome: str, trace: str | None) -> None:
        s = self.stats[req.name]
        s["calls"] += 1
        s["ok"] += outcome == "ok"
        if outcome != "ok":
            s["errnos"][outcome] += 1
        s["mutations"].setdefault(mutation, Counter())[outcome] += 1
        s["fd_kinds"].setdefault(kind, Counter())[outcome] += 1
        if trace is not None:
            self.unexpected.append({"request": req.name, "mutation": mutation, "traceback": trace})
        self.calls += 1

    def successes(self) -> dict[str, Any]:
        """How often the kernel said yes: the requests that succeeded at least
        once, the successful calls, and the requests issued that never did."""
        issued = [r.name for r in REQUESTS if self.stats[r.name]["calls"]]
        won = [n for n in issued if self.stats[n]["ok"]]
        return {
            "requests": len(won),
            "calls": sum(self.stats[n]["ok"] for n in issued),
            "never": [n for n in issued if n not in won],
        }

    def per_request(
        self, kinds: set[str], extensions: dict[int, int]
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """Each request's answers, and the requests whose handler was never reached."""
        out, never = {}, []
        for req in REQUESTS:
            s = self.stats[req.name]
            ok, why = reached(req, s, kinds, extensions)
            out[req.name] = {
                "fd": req.fd,
                "calls": s["calls"],
                "ok": s["ok"],
                "errnos": dict(sorted(s["errnos"].items())),
                "reached": ok,
                "mutations": {
                    k: dict(sorted(v.items())) for k, v in sorted(s["mutations"].items())
                },
                "fd_kinds": {k: dict(sorted(v.items())) for k, v in sorted(s["fd_kinds"].items())},
            }
            if not ok:
                never.append({"request": req.name, "why": why})
        return out, never


def fuzz(
    fuzzer: Fuzzer, iterations: int, max_seconds: float = 0.0, campaign: Campaign | None = None
) -> Campaign:
    """Every request in turn, the order shuffled each round, one mutation each
    (added to `campaign` when given: a campaign may have several phases)."""
    rng = fuzzer.rng
    campaign = campaign or Campaign()
    start = time.monotonic()
    rounds = (rng.sample(REQUESTS, len(REQUESTS)) for _ in itertools.count())
    for req in itertools.islice(itertools.chain.from_iterable(rounds), iterations):
        if max_seconds and time.monotonic() - start > max_seconds:
            campaign.stopped_early = True
            break
        mutation = rng.choice(req.mutations)
        campaign.record(req, mutation, *fuzzer.call(req, mutation))
    campaign.elapsed += time.monotonic() - start
    return campaign


def run(
    bdf: str,
    group: int,
    iterations: int,
    seed: int,
    max_seconds: float = 0.0,
    answers: bool = False,
    reproduce: bool = False,
) -> dict[str, Any]:
    """Fuzz for `iterations` calls (fewer if `max_seconds` runs out) on the
    group path, and as many again on the cdev path where the kernel has it
    (a quarter on a sPAPR TCE v1 container where there is one); the report.
    `answers` records the query requests' answers first; `reproduce` lets
    the calls that reach a known kernel bug through."""
    fds_before = open_fds()
    log = kernel_log_reader()
    rng = random.Random(seed)
    campaign = Campaign()
    cdev = cdev_of(bdf)
    phases: list[tuple[str, Callable[[], Stack | CdevStack], int]] = [
        ("group", lambda: Stack(bdf, group), iterations)
    ]
    if cdev is not None:
        phases.append(("cdev", lambda: CdevStack(cdev), iterations))
    v1 = _abi.VFIO_SPAPR_TCE_IOMMU
    if offers(v1):  # POWER: the group phase has v2; v1 alone has ENABLE / DISABLE
        phases.append(("spapr-v1", lambda: Stack(bdf, group, v1), iterations // SPAPR_V1_SHARE))
    recorded: list[dict[str, Any]] = []
    lines: list[str] = []
    logged: list[dict[str, Any]] = []
    known: Counter[str] = Counter()
    kinds: set[str] = set()
    extensions: dict[int, int] = {}
    teardown: list[str] = []
    done = []
    for phase, open_stack, count in phases:
        stack = open_stack()
        try:
            rig = Rig(bdf, stack.fds, stack.extensions(), stack.iommu)
        except BaseException:
            stack.close()
            raise
        try:
            if answers and phase == "group":
                recorded = record_answers(rig)
            lines += kernel_log_lines(log)
            fuzzer = Fuzzer(rig, rng, reproduce, log)
            calls = campaign.calls
            fuzz(fuzzer, count, max_seconds, campaign)
        finally:
            teardown += stack.close()
            rig.close()
        kinds |= set(rig.fds)
        extensions = extensions or rig.extensions
        logged += [{"phase": phase, **c} for c in fuzzer.logged]
        lines += [line for c in fuzzer.logged for line in c["log"]] + kernel_log_lines(log)
        known.update(fuzzer.known)
        done.append(
            {
                "phase": phase,
                "fd_kinds": sorted(rig.fds),
                "iommu": rig.iommu,
                "calls": campaign.calls - calls,
            }
        )
    if log is not None:
        os.close(log)
    fds_after = open_fds()
    per_request, never = campaign.per_request(kinds, extensions)
    succeeded = campaign.successes()
    elapsed = campaign.elapsed
    n_reached = len(REQUESTS) - len(never)
    return {
        "kernel": platform.release(),
        "device": bdf,
        "seed": seed,
        "iterations": campaign.calls,
        "phases": done,
        "stopped_early": campaign.stopped_early,
        "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(campaign.calls / elapsed, 1) if elapsed else 0.0,
        "fd_kinds": sorted(kinds),
        "extensions": {str(k): v for k, v in sorted(extensions.items())},
        "requests": len(REQUESTS),
        "reached": n_reached,
        "syzkaller_requests": SYZKALLER_REQUESTS,
        "succeeded": succeeded["requests"],
        "successful_calls": succeeded["calls"],
        "summary": (
            f"{n_reached} of {len(REQUESTS)} requests reached their kernel handler, "
            f"{succeeded['requests']} succeeded at least once ({succeeded['calls']} of "
            f"{campaign.calls} calls) (syzkaller's descriptions: {SYZKALLER_REQUESTS})"
        ),
        "never_reached": never,
        "never_succeeded": succeeded["never"],
        "known_kernel_bugs": [
            {
                "name": b.name,
                "request": b.request,
                "what": b.what,
                ("reproduced" if reproduce else "steered_around"): known[b.name],
            }
            for b in KERNEL_BUGS
        ],
        "unexpected": campaign.unexpected,
        "teardown_problems": teardown,
        "fds": {
            "before": sorted(fds_before),
            "after": sorted(fds_after),
            "leaked": sorted(fds_after - fds_before),
        },
        "kernel_log": lines,
        "kernel_log_by_call": logged,
        "answers": recorded,
        "per_request": per_request,
    }


def kernel_has(symbol: str) -> bool:
    """Whether the running kernel has a function (/proc/kallsyms, as root)."""
    try:
        with open("/proc/kallsyms") as f:
            return any(line.rstrip().endswith(" " + symbol) for line in f)
    except OSError:
        return False


def offers(iommu: int | None) -> bool:
    """Whether the kernel has the container IOMMU model (None: any model)."""
    if iommu is None:
        return True
    with _api.Container() as container:
        return bool(container.check_extension(iommu))


def reproduce_known_bug(bdf: str, group: int, name: str) -> dict[str, Any]:
    """Issue the known kernel bug `name`'s smallest trigger once (an oops may
    kill this process: run it in a child, see --reproduce); what it answered."""
    bug = next(b for b in KERNEL_BUGS if b.name == name)
    owner = next(r for r in REQUESTS if r.name == bug.request)
    stack = Stack(bdf, group, bug.iommu)
    rig = Rig(bdf, stack.fds, stack.extensions(), stack.iommu)
    try:
        for name_, flags in bug.prelude:  # the state the bug needs (dirty tracking on...)
            first = next(r for r in REQUESTS if r.name == name_)
            assert first.cls is not None
            head = bytearray(ctypes.sizeof(first.cls))
            obj = first.cls.from_buffer(head)
            put(obj, RECORDS[first.cls].size_field or "flags", len(head))
            put(obj, "flags", flags)
            del obj
            prelude = rig.arena.ending_at_guard(bytes(head), MIN_BUFFER)
            getattr(_rq, first.function)(rig.fds[first.fd], prelude)
        if bug.trigger:
            data = bytearray.fromhex(bug.trigger)
        else:
            data = bytearray(max(bug.need, ctypes.sizeof(bug.cls)))
            arg = bug.cls.from_buffer(data)
            size_field = RECORDS[bug.cls].size_field
            if size_field is not None:
                put(arg, size_field, len(data))
            for member, value in bug.setup:
                put(arg, member, value)
            del arg
            value = bug.mask if bug.nonzero else bug.match
            data[bug.offset : bug.offset + bug.size] = value.to_bytes(bug.size, sys.byteorder)
        view = rig.arena.ending_at_guard(bytes(data), MIN_BUFFER)
        try:
            getattr(_rq, owner.function)(rig.fds[owner.fd], view)
            outcome = "ok"
        except VfioError as exc:
            outcome = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    finally:
        stack.close()
        rig.close()
    return {"name": name, "request": bug.request, "outcome": outcome, "argument": data.hex()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bdf", required=True, help="the device, bound to vfio-pci (0000:00:03.0)")
    p.add_argument("--group", type=int, help="its IOMMU group (default: from sysfs)")
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--max-seconds", type=float, default=0.0, help="stop early after this long")
    p.add_argument("--report", type=Path, help="write the JSON report here (default: stdout)")
    p.add_argument("--answers", type=Path, help="record the query answers here (TOML)")
    p.add_argument(
        "--reproduce-known-bugs",
        action="store_true",
        help="let calls reach the known kernel bugs (KERNEL_BUGS) instead of steering around them",
    )
    p.add_argument(
        "--reproduce",
        metavar="BUG",
        choices=[b.name for b in KERNEL_BUGS],
        help="issue one known kernel bug's trigger and print what it answered (JSON)",
    )
    args = p.parse_args(argv)
    group = args.group if args.group is not None else _api.Group.number_of(args.bdf)
    if args.reproduce:
        print(json.dumps(reproduce_known_bug(args.bdf, group, args.reproduce)))
        return 0
    report = run(
        args.bdf,
        group,
        args.iterations,
        args.seed,
        args.max_seconds,
        args.answers is not None,
        args.reproduce_known_bugs,
    )
    text = json.dumps(report, indent=1, sort_keys=False) + "\n"
    if args.report:
        args.report.write_text(text)
    else:
        sys.stdout.write(text)
    if args.answers:
        args.answers.write_text(answers_toml(report["answers"], report["kernel"], args.bdf))
    print(report["summary"], file=sys.stderr)
    return 1 if report["unexpected"] or report["fds"]["leaked"] else 0


if __name__ == "__main__":
    sys.exit(main())
