"""The documentation is a site a learner reads from the top: built by one command and without a warning, it opens
on the tutorial, then the guides, the gallery of the lessons and the reference, and every link and page of it
works in Chromium with no request beyond its own files."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from docs_build import build
from needs_dot import DOT_MISSING

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# the navigation every page carries, in reading order (how to add an operation once docs/design.md has it)
READING_ORDER = ["index.html", "guides.html", "guides/first_session.html", "guides/pytorch.html", "guides/design.html",
                 "guides/adding_an_operation.html", "gallery.html", "autodiff.html", "nn.html"]


class Built:
    def __init__(self, site, printed):
        self.site, self.printed = site, printed

    def text(self, page):
        return (self.site / page).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The site, built once for this file by the README's command with its output going to a pipe."""
    pytest.importorskip("pdoc", reason="pdoc builds the documentation: pip install pdoc (in the dev extra)")
    site = tmp_path_factory.mktemp("docs") / "site"
    result = subprocess.run([sys.executable, "docs/build.py", "--out", str(site)], cwd=ROOT, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr  # any warning fails the build
    return Built(site, result.stdout)


def navigation(html):
    """The targets of the site's navigation on a page, in order, as paths from the site's root."""
    nav = re.search(r'<div class="site-nav">(.*?)</div>', html, re.S).group(1)
    return [re.sub(r"^(\.\./)+", "", href) for href in re.findall(r'href="([^"]+)"', nav)]


def test_the_site_opens_on_the_tutorial_and_every_page_leads_on_in_reading_order(built):
    landing = built.text("index.html")
    main = landing[landing.index('<main class="pdoc">'):]
    tutorial = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    assert "Tutorial: the lessons in order" in main and main.index("Tutorial: the lessons in order") < 3000, \
        "the landing page should open on the tutorial, after a short introduction"
    for lesson in re.findall(r"\*\*`(\w+)`\*\*", tutorial):
        assert f"<code>{lesson}</code>" in main, f"the tutorial's {lesson} is missing from the landing page"
    order = [page for page in READING_ORDER if (built.site / page).is_file()]
    assert order == [page for page in READING_ORDER if page != "guides/adding_an_operation.html"] or \
        order == READING_ORDER
    for page in order + ["nn/init.html", "autodiff/viz.html"]:
        assert navigation(built.text(page)) == order, f"{page} does not carry the site's navigation"
    assert "data:image/png;base64," in main, "the tutorial's pictures are embedded in its page"


def test_the_guides_are_pages_that_link_to_each_other_and_to_the_reference(built):
    design = built.text("guides/design.html")
    assert "How the engine is built" in design and "Gradients: borrowed and owned" in design
    tutorial = built.text("index.html")
    assert 'href="guides/design.html"' in tutorial and 'href="guides/pytorch.html"' in tutorial
    assert 'href="guides/first_session.html"' in tutorial
    assert 'href="autodiff.html"' in tutorial, "names of the reference in the guides link to their pages"
    if "How to add an operation" in (ROOT / "docs" / "design.md").read_text(encoding="utf-8"):
        assert (built.site / "guides" / "adding_an_operation.html").is_file()
        assert 'href="adding_an_operation.html"' in design


def test_the_notebook_reads_as_a_page_with_its_outputs(built):
    page = built.text("guides/first_session.html")
    assert "dd/da = b = -3.0" in page and "do/dw1 = 1.0000" in page, "what the cells printed"
    assert page.count("data:image/svg+xml;base64,") >= 2 and page.count("data:image/png;base64,") >= 2
    assert (built.site / "guides" / "first_session.ipynb").is_file() and 'href="./first_session.ipynb"' in page


def test_the_gallery_shows_every_lesson_with_its_picture_and_its_pages(built):
    from demos.__main__ import lessons
    from demos._gallery import EXPLORER_PAGES

    gallery = built.text("gallery.html")
    names = [name for name, _ in lessons()]
    places = [gallery.index(f"<code>{name}</code></h2>") for name in names]
    assert places == sorted(places), "the gallery follows the teaching order"
    assert gallery.count("data:image/png;base64,") >= len(names), "each lesson's picture, embedded"
    if DOT_MISSING:
        pytest.skip("the explorer pages need Graphviz's dot")
    for lesson, pages in EXPLORER_PAGES.items():
        for page in pages:
            assert f'href="explore/{lesson}/{page}"' in gallery
            assert "autodiffExplorer" in built.text(f"explore/{lesson}/{page}")


def test_the_build_says_what_it_does_as_it_goes(built):
    """Its output went to a pipe, as to a log file: each step on its own line, the pages counted at the end."""
    lines = built.printed.splitlines()
    assert any(line.startswith("pages: the tutorial,") for line in lines)
    assert any(line.startswith("gallery: running python -m demos.backprop") for line in lines)
    assert re.search(r"^wrote \d+ pages$", built.printed, re.M)
    assert lines[-1].startswith("documentation in ") and "index.html" in lines[-1]


def test_a_section_of_a_guide_becomes_a_page_of_its_own():
    text = ("# How the engine is built\n\nIntro.\n\n## Memory\n\nFreed.\n\n## How to add an operation\n\n"
            "Write its forward.\n\n### Its derivative\n\nThe vjp.\n\n## Dtypes\n\nfloat32.\n")
    rest, section = build.split_section(text, "How to add an operation")
    assert section == "# How to add an operation\n\nWrite its forward.\n\n### Its derivative\n\nThe vjp.\n"
    assert "Write its forward" not in rest and "## Dtypes\n\nfloat32." in rest and "## Memory" in rest
    assert "## How to add an operation\n\nThis part has [a page of its own]" in rest
    assert build.split_section("# Design\n\nNothing on it yet.\n", "How to add an operation") == (
        "# Design\n\nNothing on it yet.\n", None)


def test_the_design_notes_section_on_adding_an_operation_gets_its_own_guide_page(tmp_path, monkeypatch):
    for name in ("pytorch.md", build.NOTEBOOK):
        shutil.copyfile(ROOT / "docs" / name, tmp_path / name)
    (tmp_path / "design.md").write_text(
        "# How the engine is built\n\nSee [below](#how-to-add-an-operation).\n\n## Memory\n\nKept.\n\n"
        "## How to add an operation\n\nWrite a `Function`.\n", encoding="utf-8")
    monkeypatch.setattr(build, "DOCS", tmp_path)
    guides, missing = build.guide_sources()
    assert [name for name, *_ in guides] == ["first_session", "pytorch", "design", "adding_an_operation"]
    assert not missing
    pages = {name: text for name, _, text in guides}
    assert pages["adding_an_operation"] == "# How to add an operation\n\nWrite a `Function`.\n"
    assert "Write a `Function`" not in pages["design"] and "## Memory" in pages["design"]
    assert "[a page of its own](adding_an_operation.html)" in pages["design"]
    (tmp_path / "design.md").write_text("# How the engine is built\n\nNo such section yet.\n", encoding="utf-8")
    guides, missing = build.guide_sources()
    assert [name for name, *_ in guides] == ["first_session", "pytorch", "design"]
    assert missing == ["How to add an operation"]


def test_site_is_ignored_by_git_and_the_readme_says_how_to_build_it():
    assert "/site/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Documentation"):]
    assert "python docs/build.py" in section and "site/index.html" in section
    assert "[the gallery]" in section or "gallery" in section


def test_the_tutorial_follows_the_lessons_in_teaching_order():
    from demos.__main__ import lessons

    tutorial = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    names = [name for name, _ in lessons()]
    assert sorted(names, key=lambda name: tutorial.index(f"**`{name}`**")) == names


# -- in the browser -------------------------------------------------------------------------


def _unavailable(reason):
    if os.environ.get("AUTODIFF_REQUIRE_BROWSER"):
        pytest.fail(f"AUTODIFF_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


PAGE_FACTS = """() => ({
  links: Array.from(document.querySelectorAll('a[href]')).map((a) => a.href),
  ids: Array.from(document.querySelectorAll('[id]')).map((e) => e.id),
  brokenImages: Array.from(document.images).filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.alt),
})"""


def test_every_page_and_link_works_in_chromium_without_a_network_request(built):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed: pip install playwright")
    if not os.path.exists(CHROMIUM):
        _unavailable("Chromium is not installed: apt-get install chromium")
    site = built.site.resolve()
    outside, errors, facts = [], [], {}

    def route(request_route):
        url = request_route.request.url
        path = Path(unquote(urlparse(url).path)) if url.startswith("file://") else None
        if path is not None and path.is_relative_to(site) and path.is_file():
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    with sync_playwright() as playwright:
        arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=arguments)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda message: message.type == "error" and errors.append(f"{page.url}: {message.text}"))
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        waiting = [(site / "index.html").as_uri()]
        while waiting:
            url = waiting.pop()
            if url in facts:
                continue
            page.goto(url)
            facts[url] = page.evaluate(PAGE_FACTS)
            for link in facts[url]["links"]:
                target, _ = urldefrag(link)
                if target.startswith("file://") and target.endswith(".html") and target not in facts:
                    waiting.append(target)
        browser.close()

    assert not outside, f"pages asked for something beyond the site's files: {outside[:5]}"
    assert not errors, f"pages reported errors: {errors[:5]}"
    every_page = {path.resolve().as_uri() for path in site.rglob("*.html")}
    assert every_page == set(facts), f"pages no link leads to: {sorted(every_page - set(facts))[:5]}"
    broken, external = [], set()
    for url, found in facts.items():
        assert not found["brokenImages"], f"{url} shows no picture for {found['brokenImages']}"
        for link in found["links"]:
            target, fragment = urldefrag(link)
            if not target.startswith("file://"):
                external.add(target)
                continue
            path = Path(unquote(urlparse(target).path))
            if not path.is_file() or not path.is_relative_to(site):
                broken.append(f"{url} -> {link}")
            elif fragment and target.endswith(".html") and unquote(fragment) not in facts[target]["ids"]:
                broken.append(f"{url} -> {link} (no such anchor)")
    assert not broken, f"{len(broken)} links lead nowhere, such as {broken[:5]}"
    assert len(facts) >= 50, "every page of the reference, the guides, the gallery and its explorer pages"
    # links out of the site are for a reader who is online: never followed here, always https
    assert all(urlparse(link).scheme == "https" for link in external), sorted(external)


def test_the_readme_says_how_to_build_the_documentation():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python docs/build.py" in readme


def test_the_design_guides_example_of_adding_an_operation_runs_and_its_operation_holds(capsys):
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = design[design.index("## How to add an operation\n"):]
    section = section[:section.index("\n## ")]  # the guide page the site makes of it ends at the next section
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        exec(compile(block, "docs/design.md", "exec"), namespace)  # its gradcheck, gradgradcheck and jvp assert
    printed = capsys.readouterr().out
    assert "a.grad += (exp(a.data) + exp(-a.data)) / 2 * sinh1.grad" in printed
    assert all(line.removeprefix("# ") in printed for line in section.splitlines() if line.startswith("# 2. a.grad"))
    import autodiff

    a = autodiff.Value(0.5)
    (slope,) = autodiff.grad(namespace["SINH"](a), a, create_graph=True)
    assert abs(autodiff.grad(slope, a)[0] - 0.5210953054937474) < 1e-12  # d²/da² sinh a = sinh a, at 0.5
