"""What the guest tests proved, request by request: every call that goes
through the generated runtime (vfio._ioctl, under vfio.requests and vfio.api)
is recorded with the IOMMU mode the test runs in; the host merges these into
build/hardware/proof.json (rig_results.write_proof).

A test module says its mode with `PROOF_MODE = "cdev"` (or uses
`proof.mode("type1")` as a context manager for part of a test). A success
counts in `ok` only in a test that has a mode; errnos are recorded always
(mode "fuzz" for the request fuzzer, which has none)."""

from __future__ import annotations

import contextlib
import errno
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vfio.errors import VfioError  # the guest's bindings: conftest put them on sys.path

# IOMMU modes, as the kernel's VFIO selftests name their variants
MODES = ("type1", "type1v2", "iommufd-compat-type1", "iommufd-compat-type1v2", "cdev", "noiommu")
# POWER's sPAPR TCE IOMMU, v1 and v2 (the 7.2-ppc64 flavor, test_spapr.py)
MODES += ("spapr", "spapr-v2")
NO_MODE = "fuzz"

_current: list[str] = []  # a stack: the innermost mode wins
_ok: dict[str, set[str]] = {}
_errnos: dict[str, dict[str, set[str]]] = {}
_observers: list[set[str]] = []  # observed(): the requests called while each is open


def install(ioctl_module: Any) -> None:
    """Wrap the system-call functions of vfio._ioctl (looked up by the
    request functions at call time) with the recorder. Each takes the
    request's name second to last (numbers are ambiguous: VFIO_IOMMU_GET_INFO
    and VFIO_IOMMU_SPAPR_TCE_GET_INFO share one)."""
    for kind in ("none", "value", "int_ptr", "string", "struct"):
        original = getattr(ioctl_module, kind)
        if getattr(original, "_proof", False):
            continue
        setattr(ioctl_module, kind, _recording(original))
    if not getattr(ioctl_module.inline_ioctl, "_proof", False):
        ioctl_module.inline_ioctl = _recording_inline(
            ioctl_module.inline_ioctl, ioctl_module.INLINE
        )


def install_requests(requests_module: Any) -> None:
    """Wrap every request function of vfio.requests too: their fast path
    (an int fd and the exact struct) calls fcntl.ioctl without vfio._ioctl.
    The runtime looks them up on the module at call time (`rq.<name>`)."""
    for name in requests_module.REQUESTS:
        function = getattr(requests_module, name.lower())
        if not getattr(function, "_proof", False):
            setattr(requests_module, name.lower(), _recording(function, name))


def _recording(call: Callable[..., int], request: str | None = None) -> Callable[..., int]:
    """`call` recorded under `request`, or under its second-to-last argument
    (the name vfio._ioctl's functions take)."""

    def recorded(*args: Any) -> int:
        name = request or str(args[-2])
        for seen in _observers:
            seen.add(name)
        try:
            result = call(*args)
        except VfioError as exc:
            where = current()
            label = errno.errorcode.get(exc.errno, str(exc.errno))
            _errnos.setdefault(name, {}).setdefault(label, set()).add(where)
            raise
        if _current:
            _ok.setdefault(name, set()).add(current())
        return result

    recorded._proof = True  # type: ignore[attr-defined]
    recorded.__wrapped__ = call  # type: ignore[attr-defined]  # the benchmark times the original
    return recorded


def _recording_inline(
    call: Callable[[int, int, Any, bool], int], inline: dict[int, tuple[str, str]]
) -> Callable[[int, int, Any, bool], int]:
    """vfio._ioctl.inline_ioctl recorded: the API's hot verbs issue their
    requests through it (fcntl.ioctl's OSError; the verb makes the
    VfioError), each number declared in `inline` with its request's name."""

    def recorded(fd: int, number: int, arg: Any, mutate: bool) -> int:
        name = inline[number][0]
        for seen in _observers:
            seen.add(name)
        try:
            result = call(fd, number, arg, mutate)
        except OSError as exc:
            label = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            _errnos.setdefault(name, {}).setdefault(label, set()).add(current())
            raise
        if _current:
            _ok.setdefault(name, set()).add(current())
        return result

    recorded._proof = True  # type: ignore[attr-defined]
    recorded.__wrapped__ = call  # type: ignore[attr-defined]
    return recorded


def current() -> str:
    return _current[-1] if _current else NO_MODE


@contextlib.contextmanager
def mode(name: str) -> Iterator[None]:
    """Record the calls inside as made in IOMMU mode `name`."""
    assert name in MODES, name
    _current.append(name)
    try:
        yield
    finally:
        _current.pop()


@contextlib.contextmanager
def observed() -> Iterator[set[str]]:
    """The requests called inside (whether they succeed or fail), filled in
    as they are called."""
    seen: set[str] = set()
    _observers.append(seen)
    try:
        yield seen
    finally:
        _observers.remove(seen)


def dump(path: Path) -> None:
    """The guest's record, for the host to merge: per request the modes where
    it succeeded and the modes where each errno was seen."""
    requests = {
        name: {
            "ok": sorted(_ok.get(name, ())),
            "errnos": {e: sorted(m) for e, m in sorted(_errnos.get(name, {}).items())},
        }
        for name in sorted(set(_ok) | set(_errnos))
    }
    modes = sorted({m for v in requests.values() for m in v["ok"]})
    path.write_text(json.dumps({"modes": modes, "requests": requests}, indent=1) + "\n")
