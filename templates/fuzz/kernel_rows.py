# vfiogen's fuzz runtime, copied verbatim from templates/fuzz/kernel_rows.py by `vfiogen build`.
"""The rows of the kernel fuzzer's tables (fuzz/kernel_spec.py, rendered from
the spec): one per request, device feature and known kernel bug."""

from __future__ import annotations

from typing import Any, NamedTuple

from fuzz.facts import Struct


class Req(NamedTuple):
    name: str
    function: str  # in vfio.requests
    fd: str
    arg: str
    cls: Struct | None
    opens_fd: bool
    int_fd: str | None
    extension: int | None
    query: bool
    index_fields: tuple[str, ...]
    selector: str | None
    cases: tuple[tuple[int, Any], ...]  # (flag, "none" | "u8" | "s32" | "fd:<kind>" | struct)
    count_field: str | None  # the count of the argument's tail
    element: Any  # a counted tail's elements: "fd:<kind>" | "u8" | "s32" | struct
    mutations: tuple[str, ...]
    shares: tuple[str, ...]


class KernelBug(NamedTuple):
    """An argument that makes the kernel log a problem (the overlay's [kernel_bugs])."""

    name: str
    request: str  # whose handler has it: its fd kind and number
    cls: Struct  # that request's argument
    flag: int | None  # the flags bit that takes the path (None: any)
    exact: bool  # only when flags is exactly `flag`
    offset: int  # the field that triggers it, in the argument
    size: int
    need: int  # the size field the handler needs before it reads that field
    mask: int  # it triggers when field & mask == match (nonzero: != 0)
    match: int
    fix: int  # what the fuzzer puts in the masked bits instead
    setup: tuple[tuple[str, int], ...]  # other members its reproducer sets
    prelude: tuple[tuple[str, int], ...]  # (request, flags) its reproducer issues first
    fixed_by: str | None  # the first release seen without it (None: every one tested has it)
    trigger: str  # hex of an argument seen to trigger it ("": built from setup)
    what: str
    detector: str  # the kernel function that reports it: without it, the bug runs silently
    nonzero: bool  # it triggers when any bit of mask is set (match is 0)
    iommu: int | None  # the container IOMMU model whose driver has it (None: any)


class Feature(NamedTuple):
    name: str
    code: int  # the feature index, in flags & VFIO_DEVICE_FEATURE_MASK
    payload: Struct | None
    ops: tuple[int, ...]
