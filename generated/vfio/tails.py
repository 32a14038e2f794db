# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""Structs with a variable-length tail, built in one buffer from the spec's
tail descriptors (vfio.caps.TAIL_BUILDERS): the count field and argsz are set
from the elements, the element type follows the selecting flag. A struct
made on the buffer (`from_buffer`) prints its tail.

    import os

    from vfio import abi, api, devices, tails
    from vfio import requests as rq

    edu = next(d for d in devices.find(vendor=0x1234, device=0x11E8) if not d.noiommu)
    efd = os.eventfd(0, os.EFD_CLOEXEC)
    flags = abi.VFIO_IRQ_SET_DATA_EVENTFD | abi.VFIO_IRQ_SET_ACTION_TRIGGER
    buf = tails.build(abi.vfio_irq_set, [efd], index=abi.VFIO_PCI_MSI_IRQ_INDEX, flags=flags)
    print(abi.vfio_irq_set.from_buffer(buf))  # ... count=1, data=[efd]
    with api.open_pci(edu.bdf) as dev:
        rq.vfio_device_set_irqs(dev.fd, buf)  # edu's MSI now signals efd
    os.close(efd)
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

from vfio import caps
from vfio._layout import tail_element

__all__ = ["build", "element_type"]


def element_type(cls: caps.Struct, fields: dict[str, Any]) -> Any:
    """The tail's element type for these field values (None: the selected
    case carries no data)."""
    tail = caps.TAIL_BUILDERS.get(cls)
    if tail is None:
        known = ", ".join(sorted(c.__name__ for c in caps.TAIL_BUILDERS))
        raise TypeError(f"{cls.__name__} has no counted tail (those that do: {known})")
    selector = tail[2]
    return tail_element(cls, tail, int(fields.get(selector, 0)) if selector else 0)


def build(cls: caps.Struct, elements: Sequence[Any], **fields: Any) -> bytearray:
    """`cls` with `fields` set, followed by `elements` (ints, or structs of
    the element type); the count field and argsz (when the struct has one)
    are set. Returns the whole buffer, ready for a request function."""
    field, count_field, _, _ = caps.TAIL_BUILDERS.get(cls) or ("", "", None, {})
    elem = element_type(cls, fields)
    if elem is None and elements:
        raise ValueError(f"these {cls.__name__} flags carry no data, got {len(elements)} elements")
    head = getattr(cls, field).offset
    tail = (elem * len(elements))(*elements) if elem is not None else b""
    buf = bytearray(max(head + len(bytes(tail)), ctypes.sizeof(cls)))
    struct = cls.from_buffer(buf)
    for name, value in fields.items():
        setattr(struct, name, value)
    setattr(struct, count_field, len(elements))
    if hasattr(cls, "argsz"):
        setattr(struct, "argsz", len(buf))
    del struct
    buf[head : head + len(bytes(tail))] = bytes(tail)
    return buf
