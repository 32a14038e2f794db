# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""`python -m vfio`: the devices VFIO can use, and why not.

    python -m vfio list [--all] [--json]   VFIO-capable devices and the IOMMU modes
    python -m vfio info BDF [--json] [--noiommu]
                                           regions, IRQs, features, config header
                                           (--noiommu: open a no-IOMMU group's device,
                                           which taints the kernel)
    python -m vfio bind BDF [--driver D]   hand the device to vfio-pci (root)
    python -m vfio unbind BDF              give it back to its own driver (root)
    python -m vfio doctor [BDF] [--json]   what stands in the way, in plain words

JSON shapes (stable): `list` prints {"host": HOST, "devices": [DEVICE...]}
with HOST = {"iommu_units": [str], "container": bool, "iommufd": bool,
"cdev": bool, "noiommu": bool, "modules": {str: bool}} and DEVICE = {"bdf",
"id" ("1234:11e8"), "class" ("0x00ff00"), "class_name", "driver",
"iommu_group", "group_devices", "group_node", "cdev", "noiommu"}. `info`
prints DEVICE plus "config" (the decoded config header) and "vfio": the
device opened through VFIO ({"flags", "num_regions", "num_irqs",
"capabilities", "regions": [{"index", "name", "flags", "size", "offset",
"type", "sparse_areas", "capabilities"}], "irqs": [{"index", "name", "flags",
"count"}], "features": {name: bool}}) or {"error": str, "hint": str} when it
cannot be opened. `doctor` prints [{"ok", "what", "hint"}].

Exit status: 0 done (an empty inventory included), 1 a problem found or an
action refused, 2 bad arguments. `--root DIR` reads DIR/sys and DIR/dev
instead of /sys and /dev (tests use a fake tree).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vfio import _inspect, api, devices
from vfio._doctor import diagnose
from vfio.errors import SetupError, VfioError

__all__: list[str] = []


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def cmd_list(a: argparse.Namespace) -> int:
    host = devices.host(a.root)
    found = devices.scan(a.root, every=a.all)
    if a.json:
        _print_json({"host": host.to_json(), "devices": [d.to_json() for d in found]})
        return 0
    modes = [m for m, on in (("container", host.container), ("iommufd", host.iommufd)) if on]
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
            f"{d.bdf}  {d.id}  {d.class_name:<22} {d.driver or '-':<12} group {group:<4} "
            f"{node}{'  ' + d.cdev if d.cdev else ''}{'  noiommu' if d.noiommu else ''}"
        )
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    dev = devices.device(a.bdf, a.root)
    report: dict[str, Any] = dev.to_json()
    config = Path(a.root) / "sys/bus/pci/devices" / dev.bdf / "config"
    report["config"] = _inspect.config_header(config.read_bytes()[:64] if config.exists() else b"")
    try:
        with api.open_pci(dev.bdf, root=a.root, noiommu=a.noiommu) as opened:
            report["vfio"] = _inspect.device_report(opened)
    except SetupError as exc:
        report["vfio"] = {"error": str(exc), "hint": exc.hint}
    except VfioError as exc:
        report["vfio"] = {"error": str(exc), "hint": ""}
    if a.json:
        _print_json(report)
    else:
        _print_info(report)
    return 0


def _print_info(report: dict[str, Any]) -> None:
    print(f"{report['bdf']}  {report['id']}  class {report['class']} ({report['class_name']})")
    print(
        f"  driver {report['driver'] or '-'}, IOMMU group {report['iommu_group']}, {report['group_node']}"
    )
    cfg = report["config"]
    if "command" in cfg:
        print(
            f"  config: command {cfg['command']} status {cfg['status']} BARs {' '.join(cfg['bars'])}"
        )
    vfio = report["vfio"]
    if "error" in vfio:
        print(f"  not opened through VFIO: {vfio['error']}")
        return
    print(
        f"  device flags {'|'.join(vfio['flags'])}, {vfio['num_regions']} regions, {vfio['num_irqs']} IRQ indexes"
    )
    for r in vfio["regions"]:
        caps = ", ".join(c["name"] or f"cap {c['id']}" for c in r["capabilities"])
        print(
            f"  region {r['index']} {r['name'] or ''}: size {r['size']:#x} {'|'.join(r['flags'])} {caps}"
        )
    for i in vfio["irqs"]:
        print(f"  irq {i['index']} {i['name'] or ''}: count {i['count']} {'|'.join(i['flags'])}")
    supported = [name for name, ok in vfio["features"].items() if ok]
    print(f"  features: {', '.join(supported) or 'none'}")


def cmd_bind(a: argparse.Namespace) -> int:
    dev = devices.bind(a.bdf, a.driver, a.root)
    print(
        f"{dev.bdf}: bound to {dev.driver or 'no driver'}; group {dev.iommu_group} {dev.group_node or ''}"
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vfio", description=__doc__.split("\n")[0])
    p.add_argument("--root", default="/", help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("list", help="VFIO-capable devices and the IOMMU modes")
    s.add_argument("--all", action="store_true", help="every PCI device, VFIO-capable or not")
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=cmd_list)
    s = sub.add_parser("info", help="one device: regions, IRQs, features, config header")
    s.add_argument("bdf")
    s.add_argument("--json", action="store_true")
    s.add_argument(
        "--noiommu",
        action="store_true",
        help="open it even in a no-IOMMU group (no DMA isolation; taints the kernel)",
    )
    s.set_defaults(run=cmd_info)
    s = sub.add_parser("bind", help="bind a device to vfio-pci (root)")
    s.add_argument("bdf")
    s.add_argument("--driver", default="vfio-pci")
    s.set_defaults(run=cmd_bind)
    s = sub.add_parser("unbind", help="give a device back to its own driver (root)")
    s.add_argument("bdf")
    s.set_defaults(run=cmd_unbind)
    s = sub.add_parser("doctor", help="why a device (or VFIO) cannot be used")
    s.add_argument("bdf", nargs="?")
    s.add_argument("--json", action="store_true")
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
    except OSError as exc:  # DeviceNotFoundError, SysfsError (not root), ...
        print(f"vfio: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
