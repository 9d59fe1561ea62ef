"""Build the documentation site: ``python docs/build.py`` writes it to ``site/`` (``--out DIR`` elsewhere).

A learner starts at the top of ``site/index.html`` and reads down:

- the landing page: ``docs/index.md``, then the tutorial (``docs/tutorial.md``),
  the lessons in the order to take them;
- the guides, in ``GUIDES``' order: the first-session notebook with its
  stored outputs, the page for PyTorch users, the design note, and how to
  add an operation (a section of the design note, given a page of its own
  once it is written);
- the gallery: every lesson with its picture (``docs/images/lessons``), and
  the pages the lessons write with ``autodiff.explore``, copied into the
  site (``demos._gallery.EXPLORER_PAGES``: the build runs those lessons);
- the reference: one page per module of ``autodiff`` and ``nn``, made by
  pdoc from the docstrings, their examples included.

Every page carries the same navigation, in that order. Pictures are
embedded in the pages and the explorer pages are files of the site, so it
reads offline, with no request beyond its own files. Without Graphviz's
``dot`` the explorer pages are left out, and the build says so.

Every warning raised while the pages are made (a module that fails to
import, a docstring pdoc cannot read, an include that is missing) is an
error: the build lists them all and exits with status 1, so CI fails on
them. Needs pdoc (``pip install pdoc``, part of the ``dev`` extra).

``python docs/build.py --notebook`` runs the first-session notebook and
stores its outputs in ``docs/first_session.ipynb`` (needs nbclient and
ipykernel), so that it reads where it is hosted.
"""

import argparse
import base64
import contextlib
import importlib
import io
import json
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
TEMPLATES = DOCS / "templates"
PACKAGES = ["autodiff", "nn"]
LANDING, TUTORIAL = "index.md", "tutorial.md"
NOTEBOOK = "first_session.ipynb"
# (page name, source in docs/, title): the guides, in reading order. A source "FILE#Heading" is the
# section of FILE under that heading, which then leaves FILE's own page for a page of its own.
GUIDES = [
    ("first_session", NOTEBOOK, "A first session, as a notebook"),
    ("pytorch", "pytorch.md", "For PyTorch users"),
    ("design", "design.md", "How the engine is built"),
    ("adding_an_operation", "design.md#How to add an operation", "How to add an operation"),
]
GALLERY_TITLE = "Gallery of the lessons"
PICTURES = {".png", ".svg", ".gif", ".jpg"}


def say(line):
    """One line of progress, written at once even where the output goes to a file."""
    print(line, flush=True)


def public_modules():
    """Every module of the packages whose name has no leading underscore, packages first: each gets a page.

    (pdoc alone would follow a package's ``__all__``, which names its
    functions and classes, and leave out submodules such as ``nn.init``.)
    Modules run as programs (``__main__``) are left out: their pages would
    only repeat ``--help``, and so are other names of a module documented
    under its own (``autodiff.nn`` is the package ``nn``).
    """
    import pkgutil

    _checkout_first()
    names = []
    for package in PACKAGES:
        names.append(package)
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")) and \
                    importlib.import_module(info.name).__name__ == info.name:
                names.append(info.name)
    return names


def _checkout_first():
    """Import autodiff and nn from this checkout, whatever else is installed (pdoc warns when they differ)."""
    while str(ROOT) in sys.path:
        sys.path.remove(str(ROOT))
    sys.path.insert(0, str(ROOT))


class DocsWarning(Exception):
    """The build raised warnings, each of which is an error here."""


# -- the guides' sources ----------------------------------------------------------------


def split_section(text, heading):
    """``text`` (Markdown) without its section titled ``heading``, and that section (None if there is none).

    The section runs from its heading to the next heading of the same or a
    higher level; in what is left, a line links to the section's own page,
    and the section comes back as a page of its own, its heading made the
    page's title (``#``).
    """
    match = re.search(rf"^(#+)[ \t]+{re.escape(heading)}[ \t]*$", text, re.M | re.I)
    if match is None:
        return text, None
    level = len(match.group(1))
    following = re.compile(rf"^#{{1,{level}}}[ \t]", re.M)
    end = following.search(text, match.end())
    end = end.start() if end else len(text)
    section = "# " + text[match.start() + level:end].strip() + "\n"
    pointer = f"{match.group(1)} {heading}\n\nThis part has [a page of its own](#{_slug(heading)}-page).\n\n"
    return text[:match.start()] + pointer + text[end:], section


def _slug(heading):
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def guide_sources():
    """(name, title, Markdown) for each guide whose source is there, in GUIDES' order; the others' titles."""
    texts, missing = {}, []
    sections = {}
    for name, source, title in GUIDES:
        path, _, heading = source.partition("#")
        if not (DOCS / path).is_file():
            missing.append(title)
            continue
        if path == NOTEBOOK:
            texts[name] = notebook_markdown(DOCS / path)
        elif heading:
            sections[name] = (path, heading)
        else:
            texts[name] = (DOCS / path).read_text(encoding="utf-8")
    owner = {source: name for name, source, _ in GUIDES if "#" not in source}
    for name, (path, heading) in sections.items():
        rest, section = split_section(texts.get(owner.get(path), ""), heading)
        if section is None:
            missing.append(dict((n, t) for n, _, t in GUIDES)[name])
            continue
        texts[owner[path]] = rest.replace(f"#{_slug(heading)}-page", f"{name}.html")
        texts[name] = section
    built = [(name, title, texts[name]) for name, _, title in GUIDES if name in texts]
    return built, missing


def notebook_markdown(path):
    """The notebook at ``path`` as one Markdown text: its Markdown cells, its code, and the outputs stored
    with it (text as printed, pictures embedded)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    parts = [f"*This page is the notebook [`{path.name}`](./{path.name}) with its outputs; open it in Jupyter "
             "from the checkout to run it yourself.*"]
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            parts.append(source)
            continue
        parts.append(f"```python\n{source}\n```")
        printed = []
        for output in cell.get("outputs", []) + [None]:
            if output is not None and output["output_type"] == "stream":
                printed.append("".join(output["text"]))  # what one print after another wrote, as one block
                continue
            if printed:
                parts.append("```text\n" + "".join(printed).rstrip("\n") + "\n```")
                printed = []
            if output is not None:
                parts.extend(_output_markdown(output))
    return "\n\n".join(parts) + "\n"


def _output_markdown(output):
    """A code cell's result (not what it printed) as Markdown: a picture embedded, else its text in a block."""
    data = output.get("data", {})
    if "image/png" in data:
        png = "".join(data["image/png"]).replace("\n", "")
        yield f'<p><img alt="a picture the cell drew" src="data:image/png;base64,{png}"></p>'
    elif "image/svg+xml" in data:
        svg = base64.b64encode("".join(data["image/svg+xml"]).encode()).decode()
        yield f'<p><img alt="a graph the cell drew" src="data:image/svg+xml;base64,{svg}"></p>'
    elif "text/plain" in data:
        yield "```text\n" + "".join(data["text/plain"]).rstrip("\n") + "\n```"
    if output["output_type"] == "error":
        yield "```text\n" + "\n".join(output.get("traceback", [])) + "\n```"


# -- links between the pages --------------------------------------------------------------


def site_links(text, depth, guides, modules):
    """``text``'s Markdown links made to work in the site, for a page ``depth`` folders below its root.

    Guides' files become their pages (``design.md#memory`` too), the
    notebook its page, ``gallery`` the gallery, a module's name its
    reference page; a file of docs/ (a picture) becomes its absolute path,
    which pdoc embeds in the page. Other links are left as they are
    (``./first_session.ipynb``: the notebook's file, copied beside its page).
    """
    root = "../" * depth
    pages = {source: f"{root}guides/{name}.html" for name, source, _ in GUIDES if name in guides and "#" not in source}
    pages[TUTORIAL] = f"{root}index.html"
    pages["gallery"] = f"{root}gallery.html"
    pages.update({module: f"{root}{module.replace('.', '/')}.html" for module in modules})

    def link(match):
        label, target = match.group(1), match.group(2)
        path, _, anchor = target.partition("#")
        anchor = f"#{anchor}" if anchor else ""
        if path in pages:
            return f"[{label}]({pages[path]}{anchor})"
        if Path(path).suffix in PICTURES and not re.match(r"[a-z]+:", path) and (DOCS / path).is_file():
            return f"[{label}]({(DOCS / path).resolve()})"  # pdoc embeds it
        return match.group(0)

    return re.sub(r"\[([^\]]*)\]\(([^)\s]*)\)", link, text)


# -- the gallery --------------------------------------------------------------------------


def gallery_markdown(explorer_pages):
    """The gallery: each lesson, in teaching order, with its summary, its picture and its explorer pages.

    ``explorer_pages``: by lesson, (file in the site, what it shows) for each page written.
    """
    from demos.__main__ import lessons
    from demos._gallery import EXPLORER_PAGES

    parts = [f"# {GALLERY_TITLE}",
             "Each lesson trains a real model, prints what it shows in numbers, draws its pictures and checks "
             "its claim. Run one with `python -m demos.NAME` from the checkout (`--quick` for a short run, "
             "`--out DIR` for its pictures); the [tutorial](tutorial.md) says in which order. The pictures "
             "below come from full runs (`python -m demos._gallery`)."]
    for number, (name, summary) in enumerate(lessons(), start=1):
        parts.append(f"## {number}. `{name}`")
        parts.append(summary)
        picture = DOCS / "images" / "lessons" / f"{name}.png"
        if picture.is_file():
            parts.append(f"![the picture of the lesson {name}](images/lessons/{name}.png)")
        parts.append(f"Run it: `python -m demos.{name}`")
        if name in EXPLORER_PAGES:
            pages = explorer_pages.get(name, [])
            if pages:
                parts.append("Step through backward in your browser (pages written by the lesson with "
                             "`autodiff.explore`):\n\n" + "\n".join(f"- [{what}]({target})" for target, what in pages))
            else:
                parts.append("*Its pages to step through in a browser need Graphviz's `dot`, which was not "
                             "installed when this site was built.*")
    return "\n\n".join(parts) + "\n"


def write_explorer_pages(out):
    """Run each lesson that writes explorer pages, copy the pages into ``out``/explore/LESSON/.

    Returns, by lesson, (path in the site, what it shows) for each page written.
    """
    from demos._gallery import EXPLORER_PAGES

    written = {}
    for lesson, pages in EXPLORER_PAGES.items():
        say(f"gallery: running python -m demos.{lesson} for its pages to step through ...")
        with tempfile.TemporaryDirectory() as folder:
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                importlib.import_module(f"demos.{lesson}").main(["--out", folder])
            for page, what in pages.items():
                if (Path(folder) / page).is_file():
                    target = Path("explore") / lesson / page
                    (out / target).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(Path(folder) / page, out / target)
                    written.setdefault(lesson, []).append((target.as_posix(), what))
                else:
                    left_out = [line for line in printed.getvalue().splitlines() if page in line]
                    say(f"gallery: left out {page}" + (f" ({left_out[0]})" if left_out else ""))
    return written


# -- the build ----------------------------------------------------------------------------


def write_pages_package(folder, guides, gallery, modules):
    """Modules in ``folder`` whose docstrings are the site's own pages, for pdoc to render beside the
    reference: ``index`` (the landing page and the tutorial), ``gallery``, and ``guides`` with a module per
    guide. Returns {module name: page title}."""
    landing = (DOCS / LANDING).read_text(encoding="utf-8") if (DOCS / LANDING).is_file() else ""
    tutorial = (DOCS / TUTORIAL).read_text(encoding="utf-8")
    present = {name for name, *_ in guides}
    pages = {"index": ("Start here: the tutorial", site_links(landing + "\n\n" + tutorial, 0, present, modules)),
             "gallery": (GALLERY_TITLE, site_links(gallery, 0, present, modules))}
    contents = "\n".join(f"- [{title}](guides/{name}.html)" for name, title, _ in guides)
    pages["guides"] = ("Guides", f"# Guides\n\nRead these beside the reference, in this order:\n\n{contents}\n")
    for name, title, text in guides:
        pages[f"guides.{name}"] = (title, site_links(text, 1, present, modules))
    (Path(folder) / "guides").mkdir()
    for module, (_, text) in pages.items():
        path = Path(folder, *module.split(".")).with_suffix(".py")
        if module == "guides":
            path = Path(folder) / "guides" / "__init__.py"
        path.write_text(f"__doc__ = {text!r}\n", encoding="utf-8")
    return {module: title for module, (title, _) in pages.items()}


def site_navigation(guides):
    """The navigation every page carries: (section, its own page or None, [(title, page)]), pages given
    as paths from the site's root."""
    return [
        ("Start here", None, [("Tutorial: the lessons in order", "index.html")]),
        ("Guides", "guides.html", [(title, f"guides/{name}.html") for name, title, _ in guides]),
        ("Gallery", None, [("The lessons, their pictures and pages", "gallery.html")]),
        ("Reference", None, [(package, f"{package}.html") for package in PACKAGES]),
    ]


def direct_submodules(name, all_modules):
    """The modules documented directly under ``name`` (a package), by name: each package's page lists them
    all, where pdoc alone lists those its ``__all__`` names, so that no page is out of reach."""
    prefix = f"{name}."
    return sorted(module for module in all_modules
                  if module.startswith(prefix) and "." not in module.removeprefix(prefix))


def build(out):
    """Write the site to ``out``; raises ``DocsWarning`` listing every warning raised on the way."""
    import pdoc
    import pdoc.extract
    import pdoc.render

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _checkout_first()
    modules = public_modules()
    guides, missing = guide_sources()
    for title in missing:
        say(f"guides: left out {title!r}: its text is not in docs/ yet")
    explorer_pages = write_explorer_pages(out)
    say(f"pages: the tutorial, {len(guides)} guides, the gallery of the lessons and the reference of "
        f"{len(modules)} modules (pdoc) ...")
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sys.path.insert(0, folder)
        try:
            titles = write_pages_package(folder, guides, gallery_markdown(explorer_pages), modules)
            pdoc.render.configure(
                docformat="restructuredtext", show_source=False, search=True, math=False,
                footer_text="autodiff-lessons: autodiff and nn", template_directory=TEMPLATES,
            )
            pdoc.render.env.globals["site_pages"] = titles
            pdoc.render.env.globals["site_nav"] = site_navigation(guides)
            pdoc.render.env.globals["direct_submodules"] = direct_submodules
            # a package brings the submodules its __all__ names; give the others by name, once each
            brought = set(pdoc.extract.walk_specs(PACKAGES))
            others = [name for name in modules if name not in brought]
            pdoc.pdoc("index", *PACKAGES, *others, "guides", "gallery", output_directory=out)
        finally:
            sys.path.remove(folder)
            for name in [m for m in sys.modules if m in ("index", "gallery", "guides") or m.startswith("guides.")]:
                del sys.modules[name]
            pdoc.render.configure()  # pdoc's own templates again, for whatever runs next in this process
    if (DOCS / NOTEBOOK).is_file():
        shutil.copyfile(DOCS / NOTEBOOK, out / "guides" / NOTEBOOK)
    unlinked = unlink_missing_anchors(out)
    if unlinked:
        say(f"reference: {unlinked} links to private names pdoc does not document left as text")
    if caught:
        raise DocsWarning("\n".join(f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught))
    pages = sum(1 for _ in out.rglob("*.html"))
    say(f"wrote {pages} pages")
    return out


LINK = re.compile(r'<a\b[^>]*?\shref="(?P<path>[^"#:]*)#(?P<anchor>[^"]+)"[^>]*>(?P<text>.*?)</a>', re.S)


def unlink_missing_anchors(out):
    """Turn each link to a part of a page that the page does not have into its plain text; how many there were.

    pdoc links a public class's private base (``nn.RNN``'s ``_Recurrent``)
    and the members inherited from it to the base's place in its module's
    page, but documents no private class there: the learner would follow
    a link that leads nowhere. The names stay, as text.
    """
    pages = {path.resolve(): path.read_text(encoding="utf-8") for path in Path(out).rglob("*.html")}
    ids = {path: set(re.findall(r'\sid="([^"]+)"', html)) for path, html in pages.items()}
    unlinked = 0
    for path, html in pages.items():
        def keep_or_unlink(match):
            nonlocal unlinked
            target = (path.parent / match["path"]).resolve() if match["path"] else path
            if target in ids and match["anchor"] not in ids[target]:
                unlinked += 1
                return match["text"]
            return match[0]

        changed = LINK.sub(keep_or_unlink, html)
        if changed != html:
            path.write_text(changed, encoding="utf-8")
    return unlinked


def run_notebook():
    """Run docs/first_session.ipynb in a fresh kernel from this checkout and store it with its outputs."""
    import os

    import nbclient
    import nbformat

    path = DOCS / NOTEBOOK
    notebook = nbformat.read(path, as_version=4)
    metadata = dict(notebook.metadata)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as folder:
        say(f"running {path.name} ...")
        # no timings and the notebook's own metadata: a run that prints the same changes nothing in the file
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": folder}}).execute()
    notebook.metadata = nbformat.from_dict(metadata)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = nbformat.from_dict(steady_outputs(cell.outputs))
    nbformat.write(notebook, path)
    say(f"stored {path} with its outputs")


def steady_outputs(outputs):
    """A code cell's outputs as a run that prints the same should store them: consecutive prints to the same
    stream as one output (the kernel splits them as its timing falls), no memory address in a result's text."""
    steady = []
    for output in outputs:
        output = json.loads(json.dumps(output))  # a plain copy
        if output["output_type"] == "stream":
            output["text"] = "".join(output["text"])
            if steady and steady[-1]["output_type"] == "stream" and steady[-1]["name"] == output["name"]:
                steady[-1]["text"] += output["text"]
                continue
        elif "text/plain" in output.get("data", {}):
            output["data"]["text/plain"] = re.sub(r" at 0x[0-9a-f]+", "", "".join(output["data"]["text/plain"]))
        steady.append(output)
    return steady


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python docs/build.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="folder for the site (default: site/)")
    parser.add_argument("--notebook", action="store_true",
                        help=f"instead: run docs/{NOTEBOOK} and store it with its outputs")
    args = parser.parse_args(argv)
    if args.notebook:
        run_notebook()
        return 0
    try:
        out = build(args.out)
    except DocsWarning as error:
        print(f"the documentation build raised warnings, which count as errors:\n{error}", file=sys.stderr)
        return 1
    say(f"documentation in {out}/: open {out / 'index.html'}, which starts with the tutorial")
    return 0


if __name__ == "__main__":
    sys.exit(main())
