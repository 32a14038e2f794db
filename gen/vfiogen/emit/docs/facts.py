"""The wording of the reference docs: how the spec's enumerations (argument
kinds, results, argsz styles, directions) read, and the fd-kind view the
pages use. Facts about the headers (where an fd comes from, the call order
of its requests) live in the overlay and reach the docs through the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from vfiogen.ir.model import Spec


@dataclass(frozen=True, slots=True)
class FdKind:
    title: str
    opened: str  # markup: where the fd comes from besides requests that return it
    example: str  # a Python expression (or `...` with a comment) giving one
    phases: tuple[tuple[str, tuple[str, ...]], ...]  # call order, grouped


UNKNOWN_FD = FdKind("Requests of unknown fd kind", "the overlay does not say.", "...", ())


def fd_kind(spec: Spec, kind: str | None) -> FdKind:
    """What the docs say of an fd kind: the overlay's [fd_kinds] entry."""
    info = spec.fd_kinds.get(kind or "unknown")
    if info is None:
        return UNKNOWN_FD
    phases = tuple((p.title, tuple(p.requests)) for p in info.phases)
    return FdKind(info.title, info.opened, info.example, phases)


OTHER_PHASE = "other"
SUMMARY_CHARS = 80  # a request's note in a table, at most

ARG_TEXT = {
    "none": "none: `ioctl(fd, request)`",
    "value": "a value passed as the argument itself",
    "int_ptr": "a pointer to an integer",
    "string": "a pointer to a NUL-terminated string",
    "struct": "a pointer to",
}
RESULT_TEXT = {
    "status": "0 on success; -1 and `errno` on failure",
    "value": "the answer as a non-negative return value; -1 and `errno` on failure",
    "fd": "a new file descriptor; -1 and `errno` on failure",
}
ARGSZ_TEXT = {
    "none": "none: the argument has no size field",
    "minsz": "the caller sets `argsz` to at least the minimum size; the kernel only reads it",
    "grow": "as minsz, and when the capability chain does not fit the kernel raises `argsz` "
    "to the size needed: allocate that much and call again",
    "enospc": "when the array does not fit the kernel fails with `ENOSPC` and writes the "
    "needed count into the count field",
    "emsgsize": "when the array does not fit the kernel fails with `EMSGSIZE` and writes the "
    "needed count into the count field",
    "size": "iommufd `size`: the caller's `sizeof`; a shorter struct is an older one, a "
    "longer one must be zero past what the kernel knows",
}
DIRECTION_TEXT = {"in": "in", "out": "out", "inout": "in/out"}
