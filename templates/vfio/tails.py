# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""Structs with a variable-length tail, built in one buffer from the spec's
tail descriptors (vfio.caps.TAIL_BUILDERS): the count field and argsz are set
from the elements, the element type follows the selecting flag.

    buf = tails.build(abi.vfio_irq_set, [efd0, efd1], index=abi.VFIO_PCI_MSIX_IRQ_INDEX,
                      flags=abi.VFIO_IRQ_SET_DATA_EVENTFD | abi.VFIO_IRQ_SET_ACTION_TRIGGER)
    requests.vfio_device_set_irqs(dev.fd, buf)
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
