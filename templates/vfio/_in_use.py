# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""What on this machine uses a PCI device or a device node, from sysfs and
procfs alone: `bind` refuses to take a device the host is using (what
dpdk-devbind.py users expect), `doctor` names who holds a busy group.

A device is in use when one of its network interfaces is up, has an IPv6
address or a route (IPv4 addresses show as their subnet's route), when a
block device of it (or a partition) is mounted, swapped on or held by
another block device (device-mapper, md), or when a 9p/virtiofs filesystem
of its virtio transport is mounted. Every path is under `root` so a fake
tree can stand in for /sys and /proc."""

from __future__ import annotations

import os
from pathlib import Path

__all__: list[str] = []

IFF_UP = 0x1  # include/uapi/linux/if.h


Mount = tuple[str, str, str, str]
"""A line of /proc/self/mountinfo: device ("major:minor", 0:N without a
block device), mount point, fstype, source (a plain tuple: a NamedTuple
class costs a millisecond at import)."""


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in _read(path).splitlines() if line.strip()]


def mounts(root: str | Path = "/") -> list[Mount]:
    """The mounts this process sees (fields per proc(5): ... ' - ' fstype source)."""
    out = []
    for fields in _lines(Path(root) / "proc/self/mountinfo"):
        if "-" not in fields[6:] or len(fields) < 5:
            continue
        tail = fields[fields.index("-", 6) + 1 :]
        if len(tail) >= 2:
            point = fields[4].replace("\\040", " ")
            out.append((fields[2], point, tail[0], tail[1]))
    return out


def _under(path: Path, device: Path) -> bool:
    """`path` (a sysfs class link) resolves to a node below the PCI device."""
    try:
        return device in path.resolve().parents
    except OSError:
        return False


def _interface_uses(name: str, entry: Path, root: Path) -> list[str]:
    why = []
    try:
        flags = int(_read(entry / "flags").strip() or "0", 16)
    except ValueError:
        flags = 0
    if flags & IFF_UP:
        why.append("up")
    if any(f[-1] == name for f in _lines(root / "proc/net/if_inet6") if len(f) >= 6):
        why.append("has an IPv6 address")
    v4 = [f for f in _lines(root / "proc/net/route")[1:] if f and f[0] == name]
    v6 = [f for f in _lines(root / "proc/net/ipv6_route") if len(f) >= 10 and f[-1] == name]
    if v4 or v6:
        why.append(f"{len(v4) + len(v6)} route(s)")
    return [f"network interface {name} ({', '.join(why)})"] if why else []


def _block_uses(name: str, entry: Path, root: Path, mounted: list[Mount]) -> list[str]:
    out = []
    number = _read(entry / "dev").strip()
    points = [point for device, point, _, _ in mounted if number and device == number]
    if points:
        out.append(f"block device {name} mounted on {', '.join(points)}")
    swaps = {Path(f[0]).name for f in _lines(root / "proc/swaps")[1:] if f}
    if name in swaps:
        out.append(f"block device {name} is swap")
    try:
        holders = sorted(p.name for p in (entry / "holders").iterdir())
    except OSError:
        holders = []
    if holders:
        out.append(f"block device {name} held by {', '.join(holders)}")
    return out


def _virtio_fs_uses(device: Path, sys_: Path, mounted: list[Mount]) -> list[str]:
    tags = []  # (virtio device, tag): 9p's mount_tag, virtiofs's /sys/fs/virtiofs/N/tag
    for transport in sorted((sys_ / "bus/virtio/devices").glob("*")):
        tag = _read(transport / "mount_tag").rstrip("\x00\n")
        if tag and _under(transport, device):
            tags.append((transport.name, tag, "9p"))
    for fs in sorted((sys_ / "fs/virtiofs").glob("*")):
        tag = _read(fs / "tag").strip()
        if tag and _under(fs / "device", device):
            tags.append(((fs / "device").resolve().name, tag, "virtiofs"))
    out = []
    for transport_name, tag, fstype in tags:
        points = [p for _, p, kind, source in mounted if kind == fstype and source == tag]
        if points:
            out.append(
                f"{fstype} filesystem {tag} (on {transport_name}) mounted on {', '.join(points)}"
            )
    return out


def device_users(bdf: str, root: str | Path = "/") -> list[str]:
    """What uses the PCI device at `bdf` on this machine, one phrase each
    ("network interface eth0 (up, 2 route(s))"); empty when nothing does."""
    base = Path(root)
    sys_ = base / "sys"
    try:
        device = (sys_ / "bus/pci/devices" / bdf).resolve(strict=True)
    except OSError:
        return []
    out: list[str] = []
    for entry in sorted((sys_ / "class/net").glob("*")):
        if _under(entry, device):
            out += _interface_uses(entry.name, entry, base)
    mounted = mounts(root)
    for entry in sorted((sys_ / "class/block").glob("*")):
        if _under(entry, device):
            out += _block_uses(entry.name, entry, base, mounted)
    return out + _virtio_fs_uses(device, sys_, mounted)


def holders(node: str, root: str | Path = "/") -> tuple[list[str], int]:
    """The processes with `node` ("/dev/vfio/7") open, as "PID (command)",
    and how many processes' fds this user could not read."""
    found, hidden = [], 0
    procs = [p for p in (Path(root) / "proc").glob("[0-9]*") if p.name.isdigit()]
    for proc in sorted(procs, key=lambda p: int(p.name)):
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            hidden += 1
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target == node:
                command = _read(proc / "comm").strip() or "?"
                found.append(f"{proc.name} ({command})")
                break
    return found, hidden
