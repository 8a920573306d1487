"""The operator panel's files, without a browser: self-contained, every label in both languages.

(The page's behaviour is tested in a real Chromium by ``test_browser.py``.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ajam.gateway.settings import STATIC_DIR

PAGE_FILES = sorted(path.name for path in STATIC_DIR.iterdir() if path.suffix in (".html", ".js", ".css"))


def read(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def labels(language: str) -> set[str]:
    """The keys of one language's block in i18n.js."""
    source = read("i18n.js")
    block = re.search(rf"^  {language}: \{{\n(.*?)^  \}},", source, re.DOTALL | re.MULTILINE)
    assert block is not None, f"no {language} block in i18n.js"
    return set(re.findall(r'^    "([\w.]+)":', block.group(1), re.MULTILINE))


def test_the_panel_has_its_entry_files() -> None:
    assert {"index.html", "app.js", "app.css", "i18n.js"} <= set(PAGE_FILES)


def test_russian_and_english_have_the_same_labels() -> None:
    english, russian = labels("en"), labels("ru")
    assert english, "no labels parsed"
    assert english - russian == set(), "labels missing in Russian"
    assert russian - english == set(), "labels missing in English"


def test_every_label_the_page_uses_exists() -> None:
    known = labels("en")
    used: set[str] = set()
    for name in PAGE_FILES:
        text = read(name)
        used.update(re.findall(r'data-i18n(?:-label|-title|-placeholder)?="([\w.]+)"', text))
        used.update(re.findall(r'\bt\("([\w.]+)"', text))
        used.update(re.findall(r'\bsay\("([\w.]+)"', text))
    assert used, "no label use found"
    assert used - known == set()


@pytest.mark.parametrize("name", PAGE_FILES)
def test_nothing_is_fetched_from_the_internet(name: str) -> None:
    """No CDN, web font or remote script: the panel works on a network without internet access."""
    text = read(name)
    remote = re.findall(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", text)
    remote += re.findall(r"""(?:import|from)\s*["'](?:https?:)?//""", text)
    remote += re.findall(r"""url\(\s*["']?(?:https?:)?//""", text)
    assert remote == []


def test_modules_import_only_files_of_the_panel() -> None:
    for name in PAGE_FILES:
        for target in re.findall(r'from\s+"([^"]+)"', read(name)):
            assert target.startswith("./"), f"{name} imports {target}"
            assert (STATIC_DIR / target[2:]).is_file(), f"{name} imports a missing {target}"


def test_index_loads_the_app_as_a_module() -> None:
    page = read("index.html")
    assert '<script type="module" src="app.js"></script>' in page
    assert 'aria-live="assertive"' in page  # the screen pop is announced
    assert Path(STATIC_DIR / "app.css").stat().st_size > 0
