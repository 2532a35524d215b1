"""The package layout and the directions imports may run in (read from the source, nothing imported).

Data flows one way: text -> tokens -> ids -> engine -> objective -> gradient -> scores -> Explanation
-> renderer. The rules below keep the code's imports pointing the same way.
"""

import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def modules():
    """(dotted name, path) of every module of the library (saliency/) and of cli/ (saliency.cli)."""
    for top, package in (("saliency", "saliency"), ("cli", "saliency.cli")):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in sorted(files):
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(folder, name), os.path.join(ROOT, top))[:-3]
                    parts = [p for p in rel.split(os.sep) if p != "__init__"]
                    yield ".".join([package] + parts), os.path.join(folder, name)


def imports(dotted, path):
    """Every module name `path` imports, relative imports resolved, lazy (in-function) ones too."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = dotted if path.endswith("__init__.py") else dotted.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)  # `from . import io` is a module
    return found


def library():
    return [(m, p) for m, p in modules() if not m.startswith("saliency.cli")]


def test_the_reader_sees_relative_and_lazy_imports():
    path = os.path.join(ROOT, "saliency", "__init__.py")
    found = imports("saliency", path)
    assert "saliency.errors" in found  # from .errors import ... at the top
    assert "saliency.pipeline" in found  # from .pipeline import Explainer, inside load_model


def test_the_library_never_imports_the_cli():
    offenders = [m for m, p in library() if any(i.startswith("saliency.cli") for i in imports(m, p))]
    assert offenders == []


def test_only_the_renderer_imports_rich():
    offenders = [m for m, p in modules()
                 if not m.startswith("saliency.render") and any(i.split(".")[0] == "rich" for i in imports(m, p))]
    assert offenders == []


def test_pyproject_lists_every_package_folder():
    text = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    listed = set(re.findall(r'"(saliency(?:\.\w+)?)"', re.search(r"packages = \[(.*?)\]", text, re.S).group(1)))
    folders = {"saliency.cli", "saliency.models"}
    for folder, _, files in os.walk(os.path.join(ROOT, "saliency")):
        if "__init__.py" in files:
            folders.add(".".join(os.path.relpath(folder, ROOT).split(os.sep)))
    assert listed == folders
