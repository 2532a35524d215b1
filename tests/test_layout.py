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


SHARED_CLI = {"saliency.cli", "saliency.cli.common", "saliency.cli.options", "saliency.cli.output"}


def test_commands_import_only_the_shared_cli_modules():
    """A command module (cli/explain.py, cli/batch.py, ...) imports no other command: what two
    commands share lives in common.py (errors, consoles, stdin), options.py (options and their
    groups) or output.py (results), and those import no command."""
    cli = dict((m, p) for m, p in modules() if m.startswith("saliency.cli"))
    commands = set(cli) - SHARED_CLI - {"saliency.cli.__main__"}
    assert {"saliency.cli.explain", "saliency.cli.batch", "saliency.cli.reduce"} <= commands
    offenders = {m: sorted(i for i in imports(m, p) if i in commands and i != m) for m, p in cli.items()
                 if m != "saliency.cli"}  # the package itself imports every command, to register it
    assert {m: found for m, found in offenders.items() if found} == {}


def test_the_cli_makes_method_options_from_the_registry_alone():
    """No method's name or parameter is written in cli/: --method's choices and the method flags
    come from saliency.attribution's registry (a new method is one library file)."""
    from saliency.attribution import METHODS

    for m, path in modules():
        if m.startswith("saliency.cli"):
            text = open(path, encoding="utf-8").read()
            assert "--epsilon" not in text and "--bias-factor" not in text and "--occlude" not in text, m
            assert not any(f'"{name}"' in text for name in METHODS if name != "gradient"), m
