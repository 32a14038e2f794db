#!/usr/bin/env python3
"""Typed request vs raw fcntl.ioctl on a call that succeeds on any host:
VFIO_GROUP_GET_STATUS's number redirected to FIONREAD on a pipe (the
struct-argument fast path), and VFIO_DEVICE_RESET's to FIOCLEX (no argument).
Both sides are called as global names (`ioctl = fcntl.ioctl`, `typed =
rq.vfio_group_get_status`): the ratio is the request function's own cost.
Target (issue 12): struct x1.2 at most."""

import fcntl, os, termios, time, timeit
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "generated"))
from vfio import abi  # noqa: E402
from vfio import requests as rq  # noqa: E402

r, w = os.pipe()
s = abi.vfio_group_status()
rq.VFIO_GROUP_GET_STATUS = termios.FIONREAD
rq.VFIO_DEVICE_RESET = termios.FIOCLEX
g = {
    "ioctl": fcntl.ioctl,
    "r": r,
    "s": s,
    "get_status": rq.vfio_group_get_status,
    "reset": rq.vfio_device_reset,
    "N1": termios.FIONREAD,
    "N2": termios.FIOCLEX,
}
N = 300000


def best(stmt):
    return (
        min(timeit.repeat(stmt, number=N, repeat=9, globals=g, timer=time.process_time)) / N * 1e9
    )


for _ in range(2):
    raw, typed = best("ioctl(r, N1, s, True)"), best("get_status(r, s)")
    print(f"struct: raw {raw:.0f} ns, typed {typed:.0f} ns: x{typed / raw:.2f}")
    raw, typed = best("ioctl(r, N2, 0)"), best("reset(r)")
    print(f"none:   raw {raw:.0f} ns, typed {typed:.0f} ns: x{typed / raw:.2f}")
