"""Build the documentation: ``python docs/build.py`` writes it to ``site/`` (``--out DIR`` elsewhere).

- Reference: one page per module of ``autodiff`` and ``nn``, made by pdoc
  from the docstrings, their examples included.
- Guides: the Markdown files of ``docs/`` listed in ``GUIDES`` (the
  tutorial path through the lessons, the page for PyTorch users, the
  design note), shown as the pages of a ``guides`` section beside the
  reference; the first-session notebook is copied beside them.

Every warning raised while the pages are made (a module that fails to
import, a docstring pdoc cannot read, an include that is missing) is an
error: the build lists them all and exits with status 1, so CI fails on
them. Needs pdoc (``pip install pdoc``, part of the ``dev`` extra).
"""

import argparse
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
PACKAGES = ["autodiff", "nn"]
# (page name, file in docs/, title): the guides, in reading order
GUIDES = [
    ("tutorial", "tutorial.md", "Tutorial: the lessons in order"),
    ("pytorch", "pytorch.md", "For PyTorch users"),
    ("design", "design.md", "How the engine is built"),
]
NOTEBOOK = "first_session.ipynb"


def public_modules():
    """Every module of the packages whose name has no leading underscore, packages first: each gets a page.

    (pdoc alone would follow a package's ``__all__``, which names its
    functions and classes, and leave out submodules such as ``nn.init``.)
    Modules run as programs (``__main__``) are left out: their pages would
    only repeat ``--help``.
    """
    import importlib
    import pkgutil

    _checkout_first()
    names = []
    for package in PACKAGES:
        names.append(package)
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


def _checkout_first():
    """Import autodiff and nn from this checkout, whatever else is installed (pdoc warns when they differ)."""
    while str(ROOT) in sys.path:
        sys.path.remove(str(ROOT))
    sys.path.insert(0, str(ROOT))


class DocsWarning(Exception):
    """The build raised warnings, each of which is an error here."""


def guide_text(text, present):
    """A guide's Markdown as a page of the site: links to other guides, images and the notebook made to work there.

    ``present``: the file names of the guides being built. Images are
    given as absolute paths, which pdoc embeds in the page.
    """
    pages = {source: name for name, source, _ in GUIDES if source in present}

    def link(match):
        text, target = match.group(1), match.group(2)
        path, _, anchor = target.partition("#")
        anchor = f"#{anchor}" if anchor else ""
        if path in pages:
            return f"[{text}]({pages[path]}.html{anchor})"
        if path == NOTEBOOK:
            return f"[{text}](../{NOTEBOOK})"
        if not re.match(r"[a-z]+:", path) and (DOCS / path).is_file():
            return f"[{text}]({(DOCS / path).resolve()})"  # an image: pdoc embeds it
        return match.group(0)

    return re.sub(r"\[([^\]]*)\]\(([^)\s]+)\)", link, text)


def write_guides_package(folder):
    """A package ``guides`` in ``folder`` whose modules carry the guides as their docstrings; the guides built."""
    present = {source for _, source, _ in GUIDES if (DOCS / source).is_file()}
    package = Path(folder) / "guides"
    package.mkdir()
    built = [(name, source, title) for name, source, title in GUIDES if source in present]
    contents = "\n".join(f"- [{title}](guides/{name}.html)" for name, _, title in built)
    index = (
        "Guides: read these beside the reference.\n\n" + contents
        + f"\n- [A first session, as a notebook]({NOTEBOOK}): from one Value to a trained network\n"
    )
    (package / "__init__.py").write_text(f"__doc__ = {index!r}\n", encoding="utf-8")
    for name, source, title in built:
        text = guide_text((DOCS / source).read_text(encoding="utf-8"), present)
        (package / f"{name}.py").write_text(f"__doc__ = {text!r}\n", encoding="utf-8")
    return built


def build(out):
    """Write the site to ``out``; raises ``DocsWarning`` listing every warning raised on the way."""
    import pdoc
    import pdoc.extract
    import pdoc.render

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    _checkout_first()
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sys.path.insert(0, folder)
        try:
            write_guides_package(folder)
            pdoc.render.configure(
                docformat="restructuredtext", show_source=False, search=True, math=False,
                footer_text="autodiff-lessons: autodiff and nn",
            )
            # a package brings the submodules its __all__ names; give the others by name, once each
            brought = set(pdoc.extract.walk_specs(PACKAGES))
            others = [name for name in public_modules() if name not in brought]
            pdoc.pdoc(*PACKAGES, *others, "guides", output_directory=out)
        finally:
            sys.path.remove(folder)
            sys.modules.pop("guides", None)
            for name in [m for m in sys.modules if m.startswith("guides.")]:
                del sys.modules[name]
    if (DOCS / NOTEBOOK).is_file():
        shutil.copyfile(DOCS / NOTEBOOK, out / NOTEBOOK)
    if caught:
        raise DocsWarning("\n".join(f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python docs/build.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="folder for the site (default: site/)")
    args = parser.parse_args(argv)
    try:
        out = build(args.out)
    except DocsWarning as error:
        print(f"the documentation build raised warnings, which count as errors:\n{error}", file=sys.stderr)
        return 1
    print(f"documentation in {out}/ (open {out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
