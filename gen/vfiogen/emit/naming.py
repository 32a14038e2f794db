"""Python names for spec entities: one place decides them all."""

from __future__ import annotations

import keyword
import os
import re


def camel(text: str) -> str:
    """'vfio_region_info.flags' -> 'VfioRegionInfoFlags'."""
    parts = re.split(r"[^A-Za-z0-9]+", text)
    return "".join(
        p[:1].upper() + p[1:].lower() if p.isupper() else p[:1].upper() + p[1:] for p in parts if p
    )


def common_prefix(names: list[str]) -> str:
    """The longest common prefix ending at an underscore."""
    if len(names) < 2:
        return names[0].rsplit("_", 1)[0] + "_" if names and "_" in names[0] else ""
    prefix = os.path.commonprefix(names)
    return prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""


def member_name(name: str, prefix: str) -> str:
    """An enum member's Python name: the C name without the set's prefix."""
    short = name[len(prefix) :] if prefix and name.startswith(prefix) else name
    if not short or not (short[0].isalpha() or short[0] == "_") or keyword.iskeyword(short):
        return name
    return short


def function_name(request: str) -> str:
    """VFIO_DEVICE_GET_INFO -> vfio_device_get_info."""
    return request.lower()


def anonymous_enum_name(members: list[str]) -> str:
    """A name for an anonymous enum from its enumerators: the tokens of the
    first that the second shares position by position (VFIO_PCI_BAR0_REGION_INDEX,
    VFIO_PCI_BAR1_REGION_INDEX -> VfioPciRegionIndex)."""
    first = members[0].split("_")
    if len(members) > 1:
        second = members[1].split("_")
        if len(first) == len(second):
            kept = [a for a, b in zip(first, second) if a == b]
            if len(kept) >= 2:
                return camel("_".join(kept))
    return camel(members[0])
