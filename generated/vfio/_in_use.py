# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""What on this machine uses a PCI device or a device node, from sysfs,
procfs and one ioctl: `bind` refuses to take a device the host is using
(what dpdk-devbind.py users expect), `doctor` names who holds a busy group.

A device is in use when one of its network interfaces is up, has an IPv4
or IPv6 address or a route, when a block device of it (or a partition) is
mounted, swapped on, held by another block device (device-mapper, md) or
open in a process (a raw `dd`, a VM's disk), or when a 9p/virtiofs
filesystem of its virtio transport is mounted. Every path is under `root`
so a fake tree can stand in for /sys and /proc; the IPv4 addresses come
from the kernel (SIOCGIFCONF), asked only when `root` is the real "/"."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

__all__: list[str] = []

IFF_UP = 0x1  # include/uapi/linux/if.h
SIOCGIFCONF = 0x8912  # include/uapi/linux/sockios.h


Mount = tuple[str, str, str, str]
"""A line of /proc/self/mountinfo: device ("major:minor", 0:N without a
block device), mount point, fstype, source (a plain tuple: a NamedTuple
class costs a millisecond at import)."""

OpenFile = tuple[int, Path, str]
"""An fd of a process: its PID, /proc/PID/fd/N, and what that links to."""

_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    """A mountinfo/swaps field as the kernel wrote it, octal escapes undone
    (proc(5): \\040 space, \\011 tab, \\012 newline, \\134 backslash)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field) if "\\" in field else field


def _shown(path: str) -> str:
    """A path as a one-line message shows it: quoted when it holds a tab,
    a newline or another unprintable character."""
    return path if path.isprintable() else repr(path)


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
            out.append((fields[2], unescape(fields[4]), tail[0], unescape(tail[1])))
    return out


def ipv4_addresses() -> dict[str, list[str]]:
    """The IPv4 addresses of every interface of this network namespace, by
    interface ("eth0:1", an alias label, counts for eth0): SIOCGIFCONF,
    which lists them whether the interface is up or not. Empty when no
    AF_INET socket can be had."""
    import ctypes  # here: bind and doctor ask, importing vfio.devices does not
    import fcntl
    import socket

    class Ifmap(ctypes.Structure):  # the widest member of ifreq's union: its size
        _fields_ = [
            ("mem_start", ctypes.c_ulong),
            ("mem_end", ctypes.c_ulong),
            ("base_addr", ctypes.c_ushort),
            ("irq_dma_port", ctypes.c_ubyte * 3),
        ]

    class Sockaddr(ctypes.Structure):
        _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_ubyte * 14)]

    class Union(ctypes.Union):
        _fields_ = [("addr", Sockaddr), ("map", Ifmap), ("data", ctypes.c_void_p)]

    class Ifreq(ctypes.Structure):  # struct ifreq (include/uapi/linux/if.h)
        _fields_ = [("name", ctypes.c_char * 16), ("u", Union)]

    class Ifconf(ctypes.Structure):
        _fields_ = [("len", ctypes.c_int), ("buf", ctypes.c_void_p)]

    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return {}
    out: dict[str, list[str]] = {}
    with sock:
        count = 64
        while True:
            reqs = (Ifreq * count)()
            conf = Ifconf(ctypes.sizeof(reqs), ctypes.addressof(reqs))
            try:
                fcntl.ioctl(sock.fileno(), SIOCGIFCONF, conf)
            except OSError:
                return {}
            if conf.len < ctypes.sizeof(reqs):  # all fitted
                break
            count *= 4
        for req in reqs[: conf.len // ctypes.sizeof(Ifreq)]:
            if req.u.addr.family == socket.AF_INET:
                name = req.name.decode(errors="replace").partition(":")[0]
                out.setdefault(name, []).append(socket.inet_ntoa(bytes(req.u.addr.data[2:6])))
    return out


class HostUse:
    """What /proc (and the IPv4 ioctl) say about this machine's use of
    devices, each table read once, when first asked: one command reads
    them once however many interfaces and block devices it looks at."""

    def __init__(
        self, root: str | Path = "/", addresses: Callable[[], dict[str, list[str]]] | None = None
    ) -> None:
        self.root = Path(root)
        # a fake tree's interfaces and open files are not this kernel's
        self.real = self.root.resolve() == Path("/")
        self._addresses = addresses or (ipv4_addresses if self.real else dict)

    @cached_property
    def mounts(self) -> list[Mount]:
        return mounts(self.root)

    @cached_property
    def swaps(self) -> set[str]:
        """The names of the block devices swapped on (/proc/swaps)."""
        return {Path(unescape(f[0])).name for f in _lines(self.root / "proc/swaps")[1:] if f}

    @cached_property
    def ipv4(self) -> dict[str, list[str]]:
        return self._addresses()

    @cached_property
    def ipv6(self) -> set[str]:
        """The interfaces with an IPv6 address (/proc/net/if_inet6)."""
        return {f[-1] for f in _lines(self.root / "proc/net/if_inet6") if len(f) >= 6}

    @cached_property
    def routes(self) -> dict[str, int]:
        """How many IPv4 and IPv6 routes go out of each interface."""
        out: dict[str, int] = {}
        v4 = [f[0] for f in _lines(self.root / "proc/net/route")[1:] if f]
        v6 = [f[-1] for f in _lines(self.root / "proc/net/ipv6_route") if len(f) >= 10]
        for name in v4 + v6:
            out[name] = out.get(name, 0) + 1
        return out

    @cached_property
    def open_files(self) -> tuple[list[OpenFile], int]:
        """Every fd this user may see in /proc/*/fd, and how many processes'
        fds it could not read."""
        found: list[OpenFile] = []
        hidden = 0
        procs = [p for p in (self.root / "proc").glob("[0-9]*") if p.name.isdigit()]
        for proc in sorted(procs, key=lambda p: int(p.name)):
            try:
                fds = list((proc / "fd").iterdir())
            except OSError:
                hidden += 1
                continue
            for fd in fds:
                try:
                    found.append((int(proc.name), fd, os.readlink(fd)))
                except OSError:
                    continue
        return found, hidden

    @cached_property
    def open_blocks(self) -> list[tuple[int, str, int | None]]:
        """The fds open on a file: PID, its path, and its device number when
        it is a block device (stat of the fd: the file it has open, whatever
        node it was opened by, a container's /dev or a mknod of its own; in a
        fake tree the link only, whose target is the real host's)."""
        out: list[tuple[int, str, int | None]] = []
        for pid, fd, target in self.open_files[0]:
            if target.startswith("/") and not self.real:
                out.append((pid, target, None))
            elif target.startswith("/"):  # not a pipe, socket or anon_inode
                try:
                    st = os.stat(fd)
                    rdev = st.st_rdev if stat.S_ISBLK(st.st_mode) else None
                except OSError:
                    rdev = None
                out.append((pid, target, rdev))
        return out

    def command(self, pid: int) -> str:
        """ "4242 (qemu-system-x86)": the PID and its command."""
        return f"{pid} ({_read(self.root / 'proc' / str(pid) / 'comm').strip() or '?'})"


def _under(path: Path, device: Path) -> bool:
    """`path` (a sysfs class link) resolves to a node below the PCI device."""
    try:
        return device in path.resolve().parents
    except OSError:
        return False


def _interface_uses(name: str, entry: Path, host: HostUse) -> list[str]:
    why = []
    try:
        flags = int(_read(entry / "flags").strip() or "0", 16)
    except ValueError:
        flags = 0
    if flags & IFF_UP:
        why.append("up")
    if host.ipv4.get(name):
        why.append(f"has IPv4 address {', '.join(host.ipv4[name])}")
    if name in host.ipv6:
        why.append("has an IPv6 address")
    if host.routes.get(name):
        why.append(f"{host.routes[name]} route(s)")
    return [f"network interface {name} ({', '.join(why)})"] if why else []


def _number(text: str) -> int | None:
    """ "259:1" (sysfs's dev) as a device number."""
    major, _, minor = text.partition(":")
    return os.makedev(int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


def _block_uses(name: str, entry: Path, host: HostUse) -> list[str]:
    out = []
    number = _read(entry / "dev").strip()
    points = [point for device, point, _, _ in host.mounts if number and device == number]
    if points:
        out.append(f"block device {name} mounted on {', '.join(map(_shown, points))}")
    if name in host.swaps:
        out.append(f"block device {name} is swap")
    try:
        holders = sorted(p.name for p in (entry / "holders").iterdir())
    except OSError:
        holders = []
    if holders:
        out.append(f"block device {name} held by {', '.join(holders)}")
    rdev, node = _number(number), f"/dev/{name}"
    pids = sorted(
        {
            pid
            for pid, target, opened in host.open_blocks
            if target == node or (rdev is not None and opened == rdev)
        }
    )
    if pids:
        users = ", ".join(f"PID {host.command(pid)}" for pid in pids)
        out.append(f"block device {name} open in {users}")
    return out


def _virtio_fs_uses(device: Path, sys_: Path, host: HostUse) -> list[str]:
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
        points = [p for _, p, kind, source in host.mounts if kind == fstype and source == tag]
        if points:
            out.append(
                f"{fstype} filesystem {tag} (on {transport_name}) mounted on"
                f" {', '.join(map(_shown, points))}"
            )
    return out


def device_users(bdf: str, root: str | Path = "/", host: HostUse | None = None) -> list[str]:
    """What uses the PCI device at `bdf` on this machine, one phrase each
    ("network interface eth0 (up, 2 route(s))"); empty when nothing does.
    `host`: the tables of /proc read already (one HostUse per command)."""
    base = Path(root)
    sys_ = base / "sys"
    host = HostUse(root) if host is None else host
    try:
        device = (sys_ / "bus/pci/devices" / bdf).resolve(strict=True)
    except OSError:
        return []
    out: list[str] = []
    for entry in sorted((sys_ / "class/net").glob("*")):
        if _under(entry, device):
            out += _interface_uses(entry.name, entry, host)
    for entry in sorted((sys_ / "class/block").glob("*")):
        if _under(entry, device):
            out += _block_uses(entry.name, entry, host)
    return out + _virtio_fs_uses(device, sys_, host)


def holders(node: str, root: str | Path = "/") -> tuple[list[str], int]:
    """The processes with `node` ("/dev/vfio/7") open, as "PID (command)",
    and how many processes' fds this user could not read."""
    host = HostUse(root)
    files, hidden = host.open_files
    pids = dict.fromkeys(pid for pid, _, target in files if target == node)  # in PID order
    return [host.command(pid) for pid in pids], hidden
