# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""`python -m vfio`: the devices VFIO can use, and why not.

    python -m vfio list [--all] [--json]    VFIO-capable devices and the IOMMU modes
    python -m vfio info BDF [--json] [--noiommu]
                                            regions, IRQs, features, config header
    python -m vfio bind BDF [--driver D] [--force]
                                            hand the device to vfio-pci (root)
    python -m vfio unbind BDF               give it back to its own driver (root)
    python -m vfio doctor [BDF] [--json]    what stands in the way, in plain words

The JSON that `list --json`, `info --json` and `doctor --json` print is
documented in vfio.devices (the reference page of that module).

Exit status: 0 done (an empty inventory included), 1 a problem found, a
device that could not be opened, or an action refused, 2 bad arguments.
`--root DIR` reads DIR/sys, DIR/dev and DIR/proc instead of /sys, /dev and
/proc (tests use a fake tree).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vfio import _inspect, api, devices
from vfio._doctor import diagnose
from vfio.errors import (
    DeviceNotFoundError,
    NoIommuGroupError,
    NoiommuRefusedError,
    NodeMissingError,
    NotBoundError,
    RefusedError,
    VfioError,
)

__all__: list[str] = []


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _line(*parts: str) -> str:
    """The non-empty parts, one space apart: no trailing blanks."""
    return " ".join(p for p in parts if p)


def cmd_list(a: argparse.Namespace) -> int:
    host = devices.host(a.root)
    extensions = _inspect.container_extensions(a.root) if host.container else None
    found = devices.scan(a.root, every=a.all)
    if a.json:
        _print_json(
            {
                "host": {**host.to_json(), "container_extensions": extensions},
                "devices": [d.to_json() for d in found],
            }
        )
        return 0
    modes = []
    if host.container:
        short = [_inspect.short_extension(e) for e in extensions or []]
        modes.append(f"container ({', '.join(short)})" if short else "container")
    modes += ["iommufd"] if host.iommufd else []
    modes += ["cdev"] if host.cdev else []
    modes += ["noiommu"] if host.noiommu else []
    print(
        f"IOMMU: {', '.join(host.iommu_units) or 'none'}; VFIO modes: {', '.join(modes) or 'none'}"
    )
    if not found:
        print("no VFIO-capable devices (python -m vfio doctor says why)")
    for d in found:
        node = d.group_node or "-"
        group = "-" if d.iommu_group is None else str(d.iommu_group)
        print(
            _line(
                f"{d.bdf}  {d.id}  {d.class_name:<22} {d.driver or '-':<12} group {group:<4}",
                node,
                f" {d.cdev}" if d.cdev else "",
                " noiommu" if d.noiommu else "",
            )
        )
    return 0


# Failures of these kinds are facts of sysfs or a refusal: another way in fails alike.
_FINAL = (DeviceNotFoundError, NotBoundError, NoIommuGroupError, NoiommuRefusedError)


def _attempt(via: str, exc: VfioError) -> dict[str, Any]:
    return {"via": via, "error": str(exc), "hint": exc.hint}


def open_report(dev: devices.PciDevice, root: str, noiommu: bool) -> dict[str, Any]:
    """The device opened through the legacy container, or when that fails
    (no /dev/vfio/vfio: a kernel without VFIO_CONTAINER; the group node
    missing or busy) through its cdev and iommufd: `info`'s "vfio" entry."""
    attempts: list[tuple[str, VfioError]] = []
    try:
        with api.open_pci(dev.bdf, root=root, noiommu=noiommu) as opened:
            return {"via": "container", **_inspect.device_report(opened)}
    except VfioError as exc:
        attempts.append(("container", exc))
        if isinstance(exc, _FINAL):
            return _failure(attempts)
    if dev.cdev is not None:  # bindings without iommufd refuse the mode, saying so
        try:
            with api.open_pci(dev.bdf, root=root, noiommu=noiommu, mode="iommufd") as opened:
                return {"via": "cdev", **_inspect.device_report(opened)}
        except VfioError as exc:
            attempts.append(("cdev", exc))
    return _failure(attempts)


def _failure(attempts: list[tuple[str, VfioError]]) -> dict[str, Any]:
    """The reason is the first failure that is not a missing node (the
    container's absence only says why the cdev was tried)."""
    via, reason = next(
        ((v, e) for v, e in attempts if not isinstance(e, NodeMissingError)), attempts[-1]
    )
    return {**_attempt(via, reason), "attempts": [_attempt(v, e) for v, e in attempts]}


def cmd_info(a: argparse.Namespace) -> int:
    dev = devices.device(a.bdf, a.root)
    report: dict[str, Any] = dev.to_json()
    config = Path(a.root) / "sys/bus/pci/devices" / dev.bdf / "config"
    report["config"] = _inspect.config_header(config.read_bytes()[:64] if config.exists() else b"")
    report["vfio"] = open_report(dev, a.root, a.noiommu)
    if a.json:
        _print_json(report)
    else:
        _print_info(report)
    return 1 if "error" in report["vfio"] else 0


def _print_info(report: dict[str, Any]) -> None:
    print(f"{report['bdf']}  {report['id']}  class {report['class']} ({report['class_name']})")
    group = report["iommu_group"]
    print(
        f"  driver {report['driver'] or 'none'}, "
        + ("no IOMMU group" if group is None else f"IOMMU group {group}")
        + (f", {report['group_node']}" if report["group_node"] else ", no /dev/vfio node")
        + (f", cdev {report['cdev']}" if report["cdev"] else "")
    )
    cfg = report["config"]
    if "command" in cfg:
        print(
            f"  config: command {cfg['command']} status {cfg['status']} BARs {' '.join(cfg['bars'])}"
        )
    vfio = report["vfio"]
    if "error" in vfio:
        print(f"  not opened through VFIO ({vfio['via']}): {vfio['error']}")
        for other in vfio["attempts"]:
            if other["via"] != vfio["via"]:
                print(f"  (through the {other['via']}: {other['error']})")
        return
    print(
        f"  opened through the {vfio['via']}: device flags {'|'.join(vfio['flags']) or 'none'}, "
        f"{vfio['num_regions']} regions, {vfio['num_irqs']} IRQ indexes"
    )
    for r in vfio["regions"]:
        if r["size"] == 0:  # a BAR the device does not implement
            continue
        caps = ", ".join(
            (
                _type_text(r["type"])
                if c["name"] == "VFIO_REGION_INFO_CAP_TYPE" and r["type"]
                else c["name"] or f"cap {c['id']}"
            )
            for c in r["capabilities"]
        )
        name = _line(f"  region {r['index']}", (r["name"] or "").removesuffix("_REGION_INDEX"))
        print(
            _line(f"{name}:", f"size {r['size']:#x}", "|".join(r["flags"]))
            + (f"; {caps}" if caps else "")
        )
    for i in vfio["irqs"]:
        name = _line(f"  irq {i['index']}", (i["name"] or "").removesuffix("_IRQ_INDEX"))
        print(_line(f"{name}:", f"count {i['count']}", "|".join(i["flags"])))
    supported = [
        name.removeprefix("VFIO_DEVICE_FEATURE_") for name, ok in vfio["features"].items() if ok
    ]
    print(f"  features: {', '.join(supported) or 'none'}")


def _type_text(kind: dict[str, Any]) -> str:
    """ "type 0x1 (VFIO_REGION_TYPE_GFX) subtype 0x1 (VFIO_REGION_SUBTYPE_GFX_EDID)":
    the numbers, and the names where the headers give them."""

    def shown(value: int, name: str | None) -> str:
        return f"{value:#x} ({name})" if name else f"{value:#x}"

    return (
        f"type {shown(kind['type'], kind['type_name'])}"
        f" subtype {shown(kind['subtype'], kind['subtype_name'])}"
    )


def cmd_bind(a: argparse.Namespace) -> int:
    dev = devices.bind(a.bdf, a.driver, a.root, force=a.force)
    print(
        _line(
            f"{dev.bdf}: bound to {dev.driver or 'no driver'}; group {dev.iommu_group}",
            dev.group_node or "",
        )
    )
    return 0 if dev.driver == a.driver else 1


def cmd_unbind(a: argparse.Namespace) -> int:
    dev = devices.unbind(a.bdf, a.root)
    print(f"{dev.bdf}: now bound to {dev.driver or 'no driver'}")
    return 0


def cmd_doctor(a: argparse.Namespace) -> int:
    findings = diagnose(a.bdf, a.root)
    if a.json:
        _print_json([f.to_json() for f in findings])
    else:
        for f in findings:
            print(
                f"{'ok  ' if f.ok else 'FAIL'} {f.what}" + (f"\n     -> {f.hint}" if f.hint else "")
            )
    return 0 if all(f.ok for f in findings) else 1


COMMANDS = {
    "list": (
        "VFIO-capable devices and the IOMMU modes",
        "Every PCI device in an IOMMU group or bound to a vfio driver: address, "
        "vendor:device, class, driver, IOMMU group, /dev/vfio node, VFIO cdev; and what "
        "this kernel offers: IOMMU units, the legacy container and its IOMMU extensions "
        "(VFIO_CHECK_EXTENSION), iommufd, the cdev, no-IOMMU mode. No VFIO: an empty list.",
    ),
    "info": (
        "one device: regions, IRQs, features, config header",
        "Opens the device through the legacy container, or its cdev and iommufd when "
        "that fails, and prints its regions (with capabilities), IRQ indexes, device "
        "features and the PCI config header. Exit 1 (and the reason) when it cannot be "
        "opened; what sysfs says is printed anyway.",
    ),
    "bind": (
        "hand a device to vfio-pci (root)",
        "Hands the device to vfio-pci (or --driver): driver_override, unbind from its "
        "current driver, drivers_probe. Refused when the "
        "host uses the device (a network interface up, addressed or routed, a filesystem "
        "of it mounted, swap, a device-mapper holder, a process with its disk open) "
        "unless --force.",
    ),
    "unbind": (
        "give a device back to its own driver (root)",
        "Clears driver_override, unbinds from the vfio driver and lets the kernel probe "
        "the device's own driver. Refused for a device no vfio driver has.",
    ),
    "doctor": (
        "why a device (or VFIO) cannot be used",
        "Checks the IOMMU, the modules, the /dev nodes, and for BDF: its driver, its "
        "group's viability, the group node (naming the processes that hold it). Exit 1 "
        "when something is in the way.",
    ),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m vfio",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--root", default="/", help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str) -> argparse.ArgumentParser:
        short, long = COMMANDS[name]
        return sub.add_parser(name, help=short, description=long)

    json_help = "print JSON (its shape: the vfio.devices docs)"
    s = command("list")
    s.add_argument("--all", action="store_true", help="every PCI device, VFIO-capable or not")
    s.add_argument("--json", action="store_true", help=json_help)
    s.set_defaults(run=cmd_list)
    s = command("info")
    s.add_argument("bdf", help="PCI address, 0000:00:03.0 (or 00:03.0)")
    s.add_argument("--json", action="store_true", help=json_help)
    s.add_argument(
        "--noiommu",
        action="store_true",
        help="open it even in a no-IOMMU group (no DMA isolation; taints the kernel)",
    )
    s.set_defaults(run=cmd_info)
    s = command("bind")
    s.add_argument("bdf", help="PCI address")
    s.add_argument("--driver", default="vfio-pci", help="a vfio variant driver (default vfio-pci)")
    s.add_argument("--force", action="store_true", help="bind even when the host uses the device")
    s.set_defaults(run=cmd_bind)
    s = command("unbind")
    s.add_argument("bdf", help="PCI address")
    s.set_defaults(run=cmd_unbind)
    s = command("doctor")
    s.add_argument("bdf", nargs="?", help="PCI address (none: the host only)")
    s.add_argument("--json", action="store_true", help=json_help)
    s.set_defaults(run=cmd_doctor)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        return 0
    except ValueError as exc:  # a malformed BDF
        print(f"vfio: {exc}", file=sys.stderr)
        return 2
    except RefusedError as exc:  # the reason alone, in one line
        print(f"vfio: {exc.hint}", file=sys.stderr)
        return 1
    except OSError as exc:  # DeviceNotFoundError, SysfsError (not root), ...
        print(f"vfio: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
