"""Every Python example of the docs runs, in the guest, against the tier's
devices: the cookbook pages (from the built docs sources, generated/docs/
cookbook), the Python reference pages that have examples (generated/docs/
python: a docstring's code, run with the page's module bound to its last
name, `devices` on vfio.devices' page, as the examples use it) and the
README's "Using the bindings". A page's blocks run in
order in one namespace (as a reader would paste them), on the flavors that
have what its `% needs:` comment names; elsewhere the page is skipped with
the reason. A block the tests cannot run says why just above it in the page
(`*Not run by the tests: ...*`) and is listed in NOT_RUN by name, so no
block is skipped silently. Each cookbook page ends with the requests
vfiogen read from its code; running the page must issue every one."""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import mdev
import proof
import pytest
from pci import find_pci

ROOT = Path(__file__).parents[3]
DOCS = ROOT / "generated" / "docs"
FENCE = re.compile(r"^(`{3,})python\n(.*?)^\1$", re.S | re.M)
NOT_RUN_MARK = re.compile(r"\*Not run by the tests: (.+?)\*\s*$")
NEEDS = re.compile(r"^% needs: (.+)$", re.M)
ISSUES = "\n## Requests this page issues\n"  # the list vfiogen adds at a page's end
REQUEST = re.compile(r"\{c:macro\}`(\w+)`")
EDU_VENDOR, EDU_DEVICE = 0x1234, 0x11E8
NOT_RUN: dict[str, str] = {  # "<page>#<block>" -> why (the page says so too)
    "python/vfio.api.md#1": "a fragment: the container `c` comes from the text",
    "python/vfio.api.md#2": "a fragment: the device `dev` comes from the text",
}
REFERENCE = "python/"


def pages() -> dict[str, str]:
    out = {
        str(p.relative_to(DOCS)): p.read_text() for p in sorted((DOCS / "cookbook").glob("*.md"))
    }
    for p in sorted((DOCS / REFERENCE).glob("*.md")):
        if FENCE.search(p.read_text()):  # a reference page with examples
            out[str(p.relative_to(DOCS))] = p.read_text()
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Using the bindings") :]
    out["README.md#using-the-bindings"] = "% needs: edu\n" + section[: section.index("\n## ", 3)]
    return out


def blocks(text: str) -> list[tuple[str, str | None]]:
    """(code, why not run) of each python block, in order."""
    out = []
    for m in FENCE.finditer(text):
        before = [l for l in text[: m.start()].splitlines() if l.strip()]
        mark = NOT_RUN_MARK.search(before[-1]) if before else None
        out.append((m.group(2), mark.group(1) if mark else None))
    return out


def missing(need: str) -> str | None:
    """Why this guest cannot run a page needing `need` (None: it can)."""
    edus = [d for d in find_pci(EDU_VENDOR, EDU_DEVICE) if not d.noiommu]
    if need == "edu":
        return None if edus else "no edu behind the IOMMU"
    if need == "cdev":
        cdev = edus and any((edus[0].sysfs / "vfio-dev").glob("vfio*"))
        return None if cdev and Path("/dev/iommu").exists() else "no VFIO cdev / iommufd"
    if need == "mtty":
        return None if mdev.type_dir("mtty-1") else "no mtty (CONFIG_SAMPLE_VFIO_MDEV_MTTY)"
    raise AssertionError(f"unknown need {need!r}")


PAGES = pages()


def test_every_page_has_runnable_blocks_and_not_run_blocks_are_named() -> None:
    named = set()
    for name, text in PAGES.items():
        found = blocks(text)
        if name != "cookbook/index.md":
            assert found, f"{name}: no python block"
        named |= {f"{name}#{i}" for i, (_, why) in enumerate(found) if why}
    assert named == set(NOT_RUN), "blocks marked 'Not run by the tests' and NOT_RUN differ"


@pytest.mark.parametrize("name", [n for n in PAGES if n != "cookbook/index.md"])
def test_page_runs(name: str) -> None:
    text = PAGES[name]
    needs = [n.strip() for m in NEEDS.finditer(text) for n in m.group(1).split(",")]
    assert needs, f"{name}: no '% needs:' line"
    for need in needs:
        why = missing(need)
        if why is not None:
            if os.environ.get("VFIOGEN_GUEST_KERNEL", "").endswith("-full"):
                pytest.fail(f"{name} needs {need}: {why}", pytrace=False)
            pytest.skip(f"{name} needs {need}: {why}")
    before = set(os.listdir("/proc/self/fd"))
    namespace: dict[str, object] = {"__name__": "__main__"}
    if name.startswith(REFERENCE):  # the page's module, as its examples name it
        module = name.removeprefix(REFERENCE).removesuffix(".md")
        namespace[module.rsplit(".", 1)[-1]] = importlib.import_module(module)
    with proof.observed() as issued:
        for i, (code, why) in enumerate(blocks(text)):
            if why is not None:
                continue
            exec(compile(code, f"{name}#{i}", "exec"), namespace)  # noqa: S102 - the docs' code
    namespace.clear()
    assert set(os.listdir("/proc/self/fd")) <= before, f"{name} leaked file descriptors"
    listed = set(REQUEST.findall(text.partition(ISSUES)[2]))
    has_list = not name.startswith(("README", REFERENCE))
    assert listed or not has_list, f"{name}: no list of the requests it issues"
    assert listed <= issued, f"{name} lists {sorted(listed - issued)}, which its run did not issue"
