"""The README's map of the code ("Where things are") names every package and root module, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_ROOT_MODULES = 12


def the_map() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Where things are", 1)[1]
    return section.split("```", 2)[1]


def named_in_the_map() -> set[str]:
    return set(re.findall(r"^(studio/[\w/.]+)", the_map(), re.M))


def in_the_tree() -> set[str]:
    studio = ROOT / "studio"
    packages = {f"studio/{path.parent.relative_to(studio)}/" for path in studio.glob("*/__init__.py")}
    modules = {f"studio/{path.name}" for path in studio.glob("*.py") if path.name != "__init__.py"}
    return packages | modules


def test_the_map_names_every_package_and_root_module_and_nothing_else():
    named, there = named_in_the_map(), in_the_tree()
    assert not there - named, f"missing from the README's map: {sorted(there - named)}"
    assert not named - there, f"in the README's map but not in the tree: {sorted(named - there)}"


def test_the_root_holds_few_modules_and_no_file_is_long():
    root_modules = sorted(path.name for path in (ROOT / "studio").glob("*.py"))
    assert len(root_modules) <= MAX_ROOT_MODULES, root_modules
    long = {
        str(path.relative_to(ROOT)): count
        for path in (ROOT / "studio").rglob("*.py")
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long, f"files over 500 lines: {long}"


def test_the_readme_is_short_and_its_links_lead_somewhere():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for document in (ROOT / "docs").glob("*.md"):
        assert f"docs/{document.name}" in readme, f"{document.name} is not linked from the README"
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name} links to {target}, which is not there"
