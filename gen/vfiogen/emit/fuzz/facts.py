"""Facts about fields that the fuzz emitters need and the spec does not hold.

One table each: which 64-bit fields carry a user address (the kernel
dereferences it: a fuzzer may only point it at memory it owns), which 32-bit
fields and tails carry file descriptors, which int pointer names an fd of
which kind. Plus the lookups over the spec the emitters share: the value
sets bound to a field, the CHECK_EXTENSION ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vfiogen.ir.model import Field, Record, Spec

# 64-bit integer fields that carry a user virtual address (vfio-semantics.md
# section 8): by name, plus the ones whose name says nothing. Real pointers
# (TypeRef kind "pointer") are addresses too.
ADDRESS_NAME = re.compile(r"(^|_)(vaddr|user_va|uptr|ptr)$|^allowed_iovas$")
ADDRESS_FIELDS = frozenset(
    {
        "vfio_device_feature_dma_logging_control.ranges",
        "vfio_device_feature_dma_logging_report.bitmap",
        "iommu_hwpt_get_dirty_bitmap.data",
    }
)
# 32-bit fields that carry a file descriptor.
FD_NAME = re.compile(r"(^|_)(fd|iommufd|eventfd)$")
# fd fields that take an fd of one kind (the others take an eventfd, or any fd).
FD_FIELD_KINDS = {
    "vfio_device_bind_iommufd.iommufd": "iommufd",
    "vfio_device_feature_mig_state.data_fd": "mig_data",
    "iommu_fault_alloc.out_fault_fd": "fault",
    "iommu_veventq_alloc.out_veventq_fd": "veventq",
}
# Tails whose elements are file descriptors ("record.field", or the case flag
# of a flags-selected tail) -> the kind of fd ("eventfd": not a VFIO kind).
FD_TAILS = {"vfio_pci_hot_reset.group_fds": "group", "VFIO_IRQ_SET_DATA_EVENTFD": "eventfd"}
# int_ptr arguments that point at an fd of a kind.
INT_PTR_FDS = {"VFIO_GROUP_SET_CONTAINER": "container"}
SCALAR_BYTES = {
    "char": 1,
    "signed char": 1,
    "unsigned char": 1,
    "_Bool": 1,
    "short": 2,
    "unsigned short": 2,
    "int": 4,
    "unsigned int": 4,
    "long long": 8,
    "unsigned long long": 8,
}


def width(f: Field) -> int:
    """Bytes of an integer field (0 for anything else; `long` is per ABI)."""
    t = f.type
    if t.kind == "enum":
        return 4
    return SCALAR_BYTES.get(t.base, 0) if t.kind == "int" else 0


def is_address(rec: Record, f: Field) -> bool:
    return f.type.kind == "pointer" or (
        width(f) == 8
        and bool(ADDRESS_NAME.search(f.name) or f"{rec.name}.{f.name}" in ADDRESS_FIELDS)
    )


def is_fd(f: Field) -> bool:
    return width(f) == 4 and bool(FD_NAME.search(f.name))


def int_value(spec: Spec, name: str) -> int | None:
    """A constant's value when it is one integer on every ABI."""
    c = spec.constants.get(name)
    if c is None or c.per_abi or not isinstance(c.value, int):
        return None
    return c.value


def bound_members(spec: Spec, rec: Record, f: Field) -> tuple[list[str], bool]:
    """The constants of the value sets bound to a member (also when the parent
    names it: "vfio_pci_dependent_device.devid" lives in an anonymous union),
    and whether every one of those sets is a flag set."""
    keys = {f"{rec.name}.{f.name}"}
    if rec.anonymous:
        keys.add(f"{rec.name.split('::')[0]}.{f.name}")
    sets = [vs for vs in spec.value_sets.values() if keys & set(vs.fields)]
    members = [n for vs in sets for n in vs.members if int_value(spec, n) is not None]
    return list(dict.fromkeys(members)), bool(sets) and all(vs.kind == "flags" for vs in sets)


def extensions(spec: Spec) -> list[str]:
    """The CHECK_EXTENSION ids: every constant of the header defined between
    the first and the last one a request names as its extension or flag gate
    (the header keeps them together, with the IOMMU types)."""
    named = {r.extension for r in spec.requests.values() if r.extension}
    named |= {g for r in spec.requests.values() for g in r.flag_gates.values()}
    locs = [spec.constants[n].loc for n in named if n in spec.constants]
    if not locs:
        return []
    file = locs[0].file
    low, high = min(x.line for x in locs), max(x.line for x in locs)
    return [
        c.name
        for c in spec.constants.values()
        if c.loc.file == file
        and low <= c.loc.line <= high
        and c.kind == "macro"
        and int_value(spec, c.name) is not None
    ]


def typedef_bytes(name: str) -> int:
    """__u8 -> 1, __s32 -> 4 (the element types of flag-selected tails)."""
    m = re.fullmatch(r"__[us](8|16|32|64)", name)
    return int(m.group(1)) // 8 if m else 1


@dataclass(frozen=True, slots=True)
class KernelBug:
    """An argument that makes a kernel log a problem (UBSAN, an oops...). The
    kernel fuzzer steers around it, since the hardware tier fails a boot whose
    log has one, unless asked to reproduce it. Found by the kernel fuzzer."""

    name: str
    request: str  # the request whose handler has the bug (its fd kind and number)
    flag: str | None  # the flags bit that takes the buggy path (None: any flags)
    exact: bool  # the handler takes that path only when flags is exactly the bit
    path: tuple[tuple[str, str], ...]  # (record, member) steps from the argument to the field
    mask: int  # the field triggers it when field & mask == match
    match: int
    fix: str  # what kernel.py sets the masked bits to instead (a Python expression)
    setup: tuple[tuple[str, str], ...]  # other members a reproducer sets (constant or int)
    prelude: tuple[tuple[str, str], ...]  # (request, flags) a reproducer issues first
    fixed_by: str | None  # the first release of the rig's seen without it (None: all have it)
    trigger: str  # an argument (x86_64 hex) the fuzzer saw trigger it ("": built from setup)
    what: str
    detector: str  # the kernel function that reports it (absent: the kernel runs it silently)


KERNEL_BUGS = (
    KernelBug(
        "unmap-dma-pgsize-0",
        "VFIO_IOMMU_UNMAP_DMA",
        "VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP",
        False,
        (("vfio_iommu_type1_dma_unmap", "data"), ("vfio_bitmap", "pgsize")),
        (1 << 64) - 1,
        0,
        "PAGE",
        (("flags", "VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP"),),
        (),
        None,
        "",
        "vfio_iommu_type1_unmap_dma() takes __ffs(bitmap.pgsize) of a pgsize of 0, then shifts "
        "unmap.size by 64: UBSAN shift-out-of-bounds (Linux 7.2.13)",
        "__ubsan_handle_shift_out_of_bounds",
    ),
    KernelBug(
        "ioeventfd-negative-bar",
        "VFIO_DEVICE_IOEVENTFD",
        None,
        False,
        (("vfio_device_ioeventfd", "offset"),),
        1 << 63,
        1 << 63,
        "0",
        (("flags", "VFIO_DEVICE_IOEVENTFD_32"), ("fd", "-1")),
        (),
        "7.2",
        # argsz 32, flags 32-bit, offset 0xaffc91 << 40 (BAR -0x50036f), data 0, fd -1
        "20000000 04000000 00000000 0091fcaf 00000000 00000000 ffffffff 00000000",
        "vfio_pci_ioeventfd() makes an int BAR index of the loff_t offset >> 40 and checks only "
        "its upper bound: an offset with bit 63 set gives a negative index, and "
        "pci_resource_len() reads pdev->resource[] out of bounds (an oops on Linux 6.12.95; "
        "6.1.0-50 shifts arithmetically too; 7.2.13 shifts logically, compares unsigned)",
        "kasan_report",  # without KASAN the read is silent unless its address is unmapped
    ),
    KernelBug(
        "dirty-pages-pgsize-0",
        "VFIO_IOMMU_DIRTY_PAGES",
        "VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP",
        True,
        (
            ("vfio_iommu_type1_dirty_bitmap", "data"),
            ("vfio_iommu_type1_dirty_bitmap_get", "bitmap"),
            ("vfio_bitmap", "pgsize"),
        ),
        (1 << 64) - 1,
        0,
        "PAGE",
        (("flags", "VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP"),),
        (("VFIO_IOMMU_DIRTY_PAGES", "VFIO_IOMMU_DIRTY_PAGES_FLAG_START"),),
        None,
        # argsz 48, GET_BITMAP; iova 0, size 64 KiB; bitmap pgsize 0, size 64 KiB, data NULL
        "30000000 04000000 00000000 00000000 00000100 00000000"
        " 00000000 00000000 00000100 00000000 00000000 00000000",
        "vfio_iommu_type1_dirty_pages() with dirty tracking started takes a GET_BITMAP bitmap "
        "pgsize of 0 and shifts by __ffs(0) = 64: UBSAN shift-out-of-bounds (Linux 7.2.13)",
        "__ubsan_handle_shift_out_of_bounds",
    ),
)
