"""What the reference docs say that the spec does not: how a program meets
each fd kind and in which order it calls the requests, and the wording of
the spec's enumerations (argument kinds, results, argsz styles). One table
per fact, so a new request or style is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FdKind:
    title: str
    opened: str  # markup: where the fd comes from besides requests that return it
    example: str  # a Python expression (or `...` with a comment) giving one
    phases: tuple[tuple[str, tuple[str, ...]], ...]  # call order, grouped


FD_KINDS: dict[str, FdKind] = {
    "container": FdKind(
        "Container fd",
        "open `/dev/vfio/vfio`; groups are attached to it, then an IOMMU model is chosen.",
        'os.open("/dev/vfio/vfio", os.O_RDWR)',
        (
            ("negotiate", ("VFIO_GET_API_VERSION", "VFIO_CHECK_EXTENSION")),
            ("choose the IOMMU model, after VFIO_GROUP_SET_CONTAINER", ("VFIO_SET_IOMMU",)),
            (
                "type1 IOMMU",
                (
                    "VFIO_IOMMU_GET_INFO",
                    "VFIO_IOMMU_MAP_DMA",
                    "VFIO_IOMMU_DIRTY_PAGES",
                    "VFIO_IOMMU_UNMAP_DMA",
                ),
            ),
            (
                "sPAPR TCE IOMMU",
                (
                    "VFIO_IOMMU_SPAPR_TCE_GET_INFO",
                    "VFIO_IOMMU_SPAPR_REGISTER_MEMORY",
                    "VFIO_IOMMU_SPAPR_TCE_CREATE",
                    "VFIO_IOMMU_ENABLE",
                    "VFIO_EEH_PE_OP",
                    "VFIO_IOMMU_DISABLE",
                    "VFIO_IOMMU_SPAPR_TCE_REMOVE",
                    "VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY",
                ),
            ),
        ),
    ),
    "group": FdKind(
        "Group fd",
        "open `/dev/vfio/$GROUP`, the IOMMU group's number.",
        'os.open("/dev/vfio/26", os.O_RDWR)  # the IOMMU group of the device',
        (
            ("check the group is viable", ("VFIO_GROUP_GET_STATUS",)),
            ("attach it to a container", ("VFIO_GROUP_SET_CONTAINER",)),
            ("open its devices", ("VFIO_GROUP_GET_DEVICE_FD",)),
            ("detach", ("VFIO_GROUP_UNSET_CONTAINER",)),
        ),
    ),
    "device": FdKind(
        "Device fd",
        "open the device's cdev `/dev/vfio/devices/vfioN` (then bind it to an iommufd "
        "first), or ask its group.",
        'os.open("/dev/vfio/devices/vfio0", os.O_RDWR)  # or from VFIO_GROUP_GET_DEVICE_FD',
        (
            (
                "bind (device cdev only)",
                ("VFIO_DEVICE_BIND_IOMMUFD", "VFIO_DEVICE_ATTACH_IOMMUFD_PT"),
            ),
            (
                "discover",
                ("VFIO_DEVICE_GET_INFO", "VFIO_DEVICE_GET_REGION_INFO", "VFIO_DEVICE_GET_IRQ_INFO"),
            ),
            (
                "use",
                (
                    "VFIO_DEVICE_SET_IRQS",
                    "VFIO_DEVICE_IOEVENTFD",
                    "VFIO_DEVICE_FEATURE",
                    "VFIO_DEVICE_QUERY_GFX_PLANE",
                    "VFIO_DEVICE_GET_GFX_DMABUF",
                ),
            ),
            (
                "reset",
                (
                    "VFIO_DEVICE_RESET",
                    "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO",
                    "VFIO_DEVICE_PCI_HOT_RESET",
                ),
            ),
            ("unbind", ("VFIO_DEVICE_DETACH_IOMMUFD_PT",)),
        ),
    ),
    "iommufd": FdKind(
        "iommufd",
        "open `/dev/iommu`; objects made through it are named by ids, not fds.",
        'os.open("/dev/iommu", os.O_RDWR)',
        (
            (
                "address space",
                (
                    "IOMMU_IOAS_ALLOC",
                    "IOMMU_OPTION",
                    "IOMMU_IOAS_IOVA_RANGES",
                    "IOMMU_IOAS_ALLOW_IOVAS",
                ),
            ),
            ("map", ("IOMMU_IOAS_MAP", "IOMMU_IOAS_MAP_FILE", "IOMMU_IOAS_COPY")),
            ("VFIO container compatibility", ("IOMMU_VFIO_IOAS",)),
            (
                "hardware page tables",
                (
                    "IOMMU_GET_HW_INFO",
                    "IOMMU_FAULT_QUEUE_ALLOC",
                    "IOMMU_HWPT_ALLOC",
                    "IOMMU_HWPT_SET_DIRTY_TRACKING",
                    "IOMMU_HWPT_GET_DIRTY_BITMAP",
                    "IOMMU_HWPT_INVALIDATE",
                ),
            ),
            (
                "virtual IOMMU",
                (
                    "IOMMU_VIOMMU_ALLOC",
                    "IOMMU_VDEVICE_ALLOC",
                    "IOMMU_VEVENTQ_ALLOC",
                    "IOMMU_HW_QUEUE_ALLOC",
                ),
            ),
            ("hand over to another process", ("IOMMU_IOAS_CHANGE_PROCESS",)),
            ("tear down", ("IOMMU_IOAS_UNMAP", "IOMMU_DESTROY")),
        ),
    ),
    "mig_data": FdKind(
        "Migration data fd",
        "returned when the device enters a migration state that moves data; "
        "`read()` or `write()` the device state through it.",
        "...  # the data fd VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE returned",
        (("pre-copy", ("VFIO_MIG_GET_PRECOPY_INFO",)),),
    ),
    "dmabuf": FdKind(
        "DMA-BUF fd",
        "a Linux dma-buf exporting device memory; it has no VFIO requests.",
        "...  # a dma-buf fd",
        (),
    ),
    "fault": FdKind(
        "Fault queue fd",
        "`read()` page faults (`struct iommu_hwpt_pgfault`) and `write()` responses.",
        "...  # the fd IOMMU_FAULT_QUEUE_ALLOC returned",
        (),
    ),
    "veventq": FdKind(
        "vEVENTQ fd",
        "`read()` virtual IOMMU events, each behind a `struct iommufd_vevent_header`.",
        "...  # the fd IOMMU_VEVENTQ_ALLOC returned",
        (),
    ),
}
UNKNOWN_FD = FdKind("Requests of unknown fd kind", "the overlay does not say.", "...", ())
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
SIZE_FIELDS = ("argsz", "size")
EXAMPLE_VALUES = {  # value-argument requests: what a program passes
    "VFIO_CHECK_EXTENSION": "abi.VFIO_TYPE1v2_IOMMU",
    "VFIO_SET_IOMMU": "abi.VFIO_TYPE1v2_IOMMU",
    "VFIO_GROUP_SET_CONTAINER": "container",
    "VFIO_GROUP_GET_DEVICE_FD": '"0000:06:0d.0"',
}
EXAMPLE_SETUP = {"VFIO_GROUP_SET_CONTAINER": ['container = os.open("/dev/vfio/vfio", os.O_RDWR)']}
EXAMPLE_FIELDS = 4  # fields an example sets or prints, at most
# Where the examples find the bindings: structs and constants, and the one
# function per request. A switch to another API changes these and _example.
EXAMPLE_TYPES = "vfio.abi"
EXAMPLE_CALLS = "vfio.requests"
