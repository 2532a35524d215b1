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


def test_engines_import_nothing_of_the_methods_or_the_renderer():
    # Engines run the network for an Objective (saliency/objective.py); the methods sit above them.
    offenders = sorted((m, i) for m, p in library() if m.startswith("saliency.engines")
                       for i in imports(m, p) if i.startswith(("saliency.attribution", "saliency.render")))
    assert offenders == []


def test_the_reader_sees_an_engine_importing_a_method(tmp_path):
    # The rule above must be able to fail: torch_engine.py once took the contrast's parser from
    # attribution/base.py.
    probe = tmp_path / "torch_engine.py"
    probe.write_text("from ..attribution.base import Batch\n", encoding="utf-8")
    assert "saliency.attribution.base" in imports("saliency.engines.torch_engine", str(probe))


# The one library module that reaches the renderer: the notebook's display hooks (`_repr_html_`,
# `to_html`, `to_svg` on results) call saliency.notebook, which imports saliency.render inside its
# functions only, when a view is asked for. Results carry data; render/ draws them and may import them.
RENDER_DOOR = "saliency.notebook"


def top_level_imports(dotted, path):
    """The module names `path` imports when it is imported (not those inside functions)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    shallow = ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[])
    found = set()
    package = dotted if path.endswith("__init__.py") else dotted.rsplit(".", 1)[0]
    for node in shallow.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        else:
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            found.add(".".join(base + ([node.module] if node.module else [])) if node.level else node.module)
    return found


def imports_render(names):
    return any(i == "saliency.render" or i.startswith("saliency.render.") for i in names)


def test_no_library_module_imports_the_renderer():
    offenders = [m for m, p in library()
                 if not m.startswith("saliency.render") and m != RENDER_DOOR and imports_render(imports(m, p))]
    assert offenders == []


def test_the_notebook_door_reaches_the_renderer_lazily_only():
    path = dict(modules())[RENDER_DOOR]
    assert imports_render(imports(RENDER_DOOR, path))  # it does reach render (else drop the exception)...
    assert not imports_render(top_level_imports(RENDER_DOOR, path))  # ...but never when imported


def dependencies():
    """{library module: the library modules it imports}, lazy imports included; importing a
    submodule imports its packages, which is no edge; the notebook door's way to render is left out."""
    lib = dict(library())
    graph = {}
    for m, p in lib.items():
        deps = set()
        for name in imports(m, p):
            parts = name.split(".")
            while parts and ".".join(parts) not in lib:  # `from .x import f`: the module x
                parts.pop()
            target = ".".join(parts)
            if parts and target != m and not m.startswith(target + "."):
                deps.add(target)
        if m == RENDER_DOOR:
            deps = {d for d in deps if not imports_render([d])}
        graph[m] = deps
    return graph


def circles(graph):
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_circle_finder_finds_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}, "g": set()}
    assert circles(graph) == [["a", "b", "c"], ["e", "f"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_dependencies_see_lazy_and_package_imports():
    graph = dependencies()
    assert "saliency.pipeline" in graph["saliency.evaluation.randomize"]  # imported inside a function
    assert "saliency.render.text" in graph["saliency.render"]  # a package's __init__ importing its modules
    assert "saliency.records.record" in graph["saliency.records.readers"]


def test_no_import_circles_in_the_library():
    assert circles(dependencies()) == []


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
