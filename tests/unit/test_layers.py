"""Imports point down: every berth module imports only its own package and packages in lower layers.

The layers are the table in docs/architecture.md, read from there, so the document and this check
cannot drift apart. Every import statement counts: top-level ones, ones inside functions (deferred
imports still run) and ones under `if TYPE_CHECKING:` (a type from a higher layer is still a
dependency on it; a lower module that needs a higher one's type takes a Protocol or a callable
instead). Not seen: modules loaded by name at run time (`extra_job_kinds` specs, importlib).
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "berth"
DOC = ROOT / "docs" / "architecture.md"
#: the layer that holds the pure primitives: its modules may also import one another
PRIMITIVES = "primitives"


def read_layers(doc: str) -> list[tuple[str, frozenset[str]]]:
    """(layer name, components) from the first table under "## Layers", lowest layer first. A component
    is the first name under berth: a package (`db/`) or a module (`config.py`); `__init__.py` is `berth`."""
    lines = doc.partition("\n## Layers")[2].splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("|")), 0)
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[first:]))
    layers = []
    for row in table[2:]:  # after the header and its |---| line
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        names = re.findall(r"`(?:berth/)?([A-Za-z_]+)(?:/|\.py)?`", cells[1])
        layers.append((cells[0], frozenset("berth" if name == "__init__" else name for name in names)))
    return layers


LAYERS = read_layers(DOC.read_text())
LAYER_OF = {component: index for index, (_, components) in enumerate(LAYERS) for component in components}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def component_of(module: str) -> str:
    """`berth.services.users` -> `services`; `berth` and its own names (`berth.__version__`) -> `berth`."""
    parts = module.split(".")
    if len(parts) == 1:
        return "berth"
    name = parts[1]
    return name if (SOURCE / name).is_dir() or (SOURCE / f"{name}.py").exists() else "berth"


def imports_in(text: str, module: str, *, package: bool = False) -> list[tuple[int, str]]:
    """(line, module) for every berth import in `module`'s source, wherever it sits; relative imports resolved."""
    parent = module if package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parent.split(".")[: len(parent.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from berth import mediatypes` imports the module berth.mediatypes
            found.extend((node.lineno, f"{target}.{alias.name}" if target == "berth" else target)
                         for alias in node.names)
    return sorted({(line, name) for line, name in found if name == "berth" or name.startswith("berth.")})


def rule_broken(source: str, imported: str) -> str | None:
    """Why component `source` may not import component `imported`, or None when it may."""
    if imported == source:
        return None
    if source not in LAYER_OF or imported not in LAYER_OF:
        unknown = source if source not in LAYER_OF else imported
        return f"`{unknown}` is in no layer; add it to the table in docs/architecture.md"
    low, high = LAYER_OF[imported], LAYER_OF[source]
    if low < high or (low == high and LAYERS[high][0] == PRIMITIVES):
        return None
    where = "a layer above" if low > high else "the same layer"
    return (f"`{imported}` is in {where} (\"{LAYERS[low][0]}\"); "
            f"`{source}` (\"{LAYERS[high][0]}\") may import only layers below its own")


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(SOURCE.rglob("*.py")):
        module = module_name(path)
        source = component_of(module)
        for line, target in imports_in(path.read_text(), module, package=path.name == "__init__.py"):
            broken = rule_broken(source, component_of(target))
            if broken:
                problems.append(f"{path.relative_to(ROOT)}:{line} ({module}) imports {target}: {broken}")
    return problems


def test_the_layer_table_names_every_package_once():
    assert LAYERS, "docs/architecture.md has no table under '## Layers'"
    assert LAYERS[0][0] == PRIMITIVES
    named = [component for _, components in LAYERS for component in components]
    assert len(named) == len(set(named)), f"a package sits in two layers: {sorted(named)}"
    present = {"berth"} | {p.stem for p in SOURCE.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in SOURCE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert present <= set(named), f"not in the layer table: {sorted(present - set(named))}"
    assert set(named) <= present, f"in the layer table but not in src/berth: {sorted(set(named) - present)}"


def test_no_module_imports_from_a_layer_above_it():
    problems = upward_imports()
    assert not problems, "imports that point upwards (docs/architecture.md):\n" + "\n".join(problems)


@pytest.mark.parametrize(("module", "statement", "imported"), [
    ("berth.services.users", "from berth.auth.rbac import Subject", "berth.auth.rbac"),
    ("berth.db.models", "import berth.services.registry", "berth.services.registry"),
    ("berth.webhook.delivery", "if TYPE_CHECKING:\n    from berth.services.registry import Registry",
     "berth.services.registry"),
    ("berth.jobs.worker", "def later():\n    from ..services import registry", "berth.services"),
    ("berth.artifact_types", "from berth import mediatypes", "berth.mediatypes"),
])
def test_imports_are_found_wherever_they_sit(module, statement, imported):
    assert [name for _, name in imports_in(statement, module)] == [imported]


@pytest.mark.parametrize(("source", "imported", "allowed"), [
    ("services", "security", True), ("services", "auth", False), ("webhook", "services", False),
    ("artifact_types", "mediatypes", True), ("oci", "api", False), ("api", "webhook", True),
    ("db", "storage", False), ("cli", "app", True), ("app", "cli", False),
])
def test_the_rule(source, imported, allowed):
    assert (rule_broken(source, imported) is None) is allowed
