"""The cookbook and the request pages, linked both ways: a recipe page ends
with the requests its python blocks issue (calls of the generated `vfio`
package followed into it, direct vfio.requests calls), and each request page
names the recipes that issue it. Recipes here are small pages in a temporary
cookbook, rendered against the real 7.2 package; the facts are checked by
editing a recipe (a call removed takes its links with it)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from support import RELEASES, release_spec
from vfiogen.emit.bindings.build import render_bindings
from vfiogen.emit.docs import build as docs
from vfiogen.emit.docs import cookbook
from vfiogen.errors import DocsError

NEWEST = RELEASES[-1]
INDEX = cookbook.HEADER + "\n\n# Cookbook\n"
IRQS = """
from vfio import api

with api.open_pci("0000:00:03.0") as dev:
    for irq in dev.irqs():
        print(irq)
"""
USED_IN = re.compile(r"^- \*\*used in the cookbook\*\*: (.*)$", re.M)


@functools.cache
def package() -> dict[str, str]:
    return render_bindings(release_spec(NEWEST))


def recipe(*blocks: str) -> str:
    body = "".join(f"\nSome prose.\n\n```python{block}```\n" for block in blocks)
    return cookbook.HEADER + "\n% needs: edu\n\n# A recipe\n" + body


def render(root: Path, **pages: str) -> dict[str, str]:
    (root / "index.md").write_text(INDEX)
    for name, text in pages.items():
        (root / f"{name}.md").write_text(text)
    out = docs.render_docs(release_spec(NEWEST), package=package(), cookbook_root=root)
    return {path.removeprefix("docs/"): text for path, text in out.items()}


def used_in(pages: dict[str, str], request: str) -> str | None:
    m = USED_IN.search(pages[f"requests/{request}.md"])
    return m.group(1) if m else None


def issued(page: str) -> list[str]:
    """The requests a rendered recipe page lists at its end."""
    if "## Requests this page issues" not in page:
        return []
    tail = page.split("## Requests this page issues", 1)[1]
    return re.findall(r"\{c:macro\}`(\w+)`", tail)


def test_a_recipe_that_lists_irqs_links_get_irq_info_both_ways(tmp_path: Path) -> None:
    pages = render(tmp_path, irqs=recipe(IRQS))
    assert used_in(pages, "VFIO_DEVICE_GET_IRQ_INFO") == "{doc}`/cookbook/irqs`"
    listed = issued(pages["cookbook/irqs.md"])
    assert "VFIO_DEVICE_GET_IRQ_INFO" in listed
    assert "VFIO_DEVICE_GET_INFO" in listed  # irqs() reads info.num_irqs
    assert "VFIO_GROUP_GET_DEVICE_FD" in listed  # open_pci, through the package
    assert pages["cookbook/irqs.md"].startswith(recipe(IRQS))  # the page as written, first
    assert issued(pages["cookbook/index.md"]) == []  # no code, no list
    assert pages["cookbook/index.md"] == INDEX


def test_a_request_no_recipe_issues_gets_no_cookbook_line(tmp_path: Path) -> None:
    pages = render(tmp_path, irqs=recipe(IRQS))
    assert used_in(pages, "VFIO_DEVICE_RESET") is None
    assert used_in(pages, "VFIO_IOMMU_SPAPR_TCE_CREATE") is None
    linked = {
        path.removeprefix("requests/").removesuffix(".md")
        for path, text in pages.items()
        if path.startswith("requests/") and USED_IN.search(text)
    }
    assert linked == set(issued(pages["cookbook/irqs.md"]))


def test_removing_the_call_removes_the_link(tmp_path: Path) -> None:
    pages = render(tmp_path, irqs=recipe(IRQS))
    assert used_in(pages, "VFIO_DEVICE_GET_IRQ_INFO") is not None
    without = IRQS.replace("    for irq in dev.irqs():\n        print(irq)\n", "    print(dev)\n")
    assert without != IRQS
    pages = render(tmp_path, irqs=recipe(without))
    assert used_in(pages, "VFIO_DEVICE_GET_IRQ_INFO") is None
    assert "VFIO_DEVICE_GET_IRQ_INFO" not in issued(pages["cookbook/irqs.md"])
    assert "VFIO_GROUP_GET_DEVICE_FD" in issued(pages["cookbook/irqs.md"])  # open_pci stays


def test_direct_requests_recipe_functions_and_several_recipes(tmp_path: Path) -> None:
    """A vfio.requests call counts; a function the recipe defines counts when
    the recipe calls it (its parameters typed by their annotations, the
    recipe's module-level names seen inside it); two recipes both link."""
    direct = """
from vfio import api
from vfio import requests as rq

dev = api.open_pci("0000:00:03.0")


def reset(d: api.Device) -> None:
    rq.vfio_device_reset(d.fd)


def never_called() -> None:
    dev.interrupt(0)


def info() -> int:
    return dev.info.num_irqs
"""
    call = "\nreset(dev)\nprint(info())\n"
    pages = render(tmp_path, direct=recipe(direct, call), irqs=recipe(IRQS))
    listed = issued(pages["cookbook/direct.md"])
    assert "VFIO_DEVICE_RESET" in listed
    assert "VFIO_DEVICE_GET_INFO" in listed  # through the global `dev`
    assert "VFIO_DEVICE_SET_IRQS" not in listed  # never_called() is not
    assert used_in(pages, "VFIO_DEVICE_GET_INFO") == (
        "{doc}`/cookbook/direct`, {doc}`/cookbook/irqs`"
    )
    pages = render(tmp_path, direct=recipe(direct, "\nprint(info())\n"), irqs=recipe(IRQS))
    assert "VFIO_DEVICE_RESET" not in issued(pages["cookbook/direct.md"])


def test_requests_are_grouped_by_fd_kind_in_call_order(tmp_path: Path) -> None:
    pages = render(tmp_path, irqs=recipe(IRQS))
    tail = pages["cookbook/irqs.md"].split("## Requests this page issues", 1)[1]
    facts = re.findall(r"^- \*\*(.+?)\*\*: (.*)$", tail, re.M)
    assert [label for label, _ in facts] == ["Container fd", "Group fd", "Device fd"]
    device = dict(facts)["Device fd"]
    assert device.index("VFIO_DEVICE_GET_INFO") < device.index("VFIO_DEVICE_GET_IRQ_INFO")


def test_a_recipe_that_does_not_parse_names_its_page_and_line(tmp_path: Path) -> None:
    broken = recipe(IRQS, "\nprint(:\n")
    line = broken.splitlines().index("print(:") + 1
    with pytest.raises(DocsError, match=rf"broken\.md:{line}: cannot parse"):
        render(tmp_path, broken=broken)


def test_program_keeps_each_line_where_the_page_has_it() -> None:
    page = "# t\n\n```python\nx = 1\n```\n\ntext\n\n````python\ny = 2\n````\n```text\nz\n```\n"
    lines = cookbook.program(page).splitlines()
    assert lines[3] == "x = 1" and lines[9] == "y = 2"
    assert [l for l in lines if l] == ["x = 1", "y = 2"]


def test_the_shipped_cookbook_links_its_requests() -> None:
    """On the real recipes (generated/docs): what edu's driver does."""
    root = Path(__file__).parents[2] / "generated" / "docs"
    edu = (root / "cookbook" / "edu.md").read_text()
    for request in ("VFIO_GROUP_GET_DEVICE_FD", "VFIO_DEVICE_GET_INFO", "VFIO_DEVICE_SET_IRQS"):
        assert request in issued(edu)
    set_irqs = (root / "requests" / "VFIO_DEVICE_SET_IRQS.md").read_text()
    assert "{doc}`/cookbook/edu`" in (USED_IN.search(set_irqs) or [""])[0]
