"""Dependencies point one way (DESIGN §2): ``audit`` and ``connections`` use ``knowledge``;
``knowledge`` never imports them — not at the top of a module, not inside a function, not under
TYPE_CHECKING, not through importlib. Read from the source with ``ast`` (migrations excepted)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = frozenset({"audit", "connections"})


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every absolute import in a module: ``from a import b`` is ``a.b``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            # (A relative import stays inside the importing app: it cannot reach another app.)
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def forbidden_imports(app: str = "knowledge") -> list[str]:
    offenders = []
    for path in sorted((ROOT / app).rglob("*.py")):
        relative = path.relative_to(ROOT)
        if "migrations" in relative.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(relative))
        for line, module in _imported_modules(tree):
            if module.split(".")[0] in FORBIDDEN:
                offenders.append(f"{relative}:{line} imports {module}")
    return offenders


def test_knowledge_imports_neither_audit_nor_connections() -> None:
    assert forbidden_imports() == []


def test_the_import_check_sees_every_way_of_importing() -> None:
    source = (
        "import audit.models\n"
        "from connections import services\n"
        "def f():\n    from audit.services import recall_record\n"
        "from .. import audit\n"  # knowledge.audit, if anything: not the app
        "import importlib\nimportlib.import_module('connections.tasks')\n"
        "from django.db import connections\n"  # Django's, not the app
        "from . import selectors\n"
    )
    found = [module for _, module in _imported_modules(ast.parse(source))]
    assert "django.db.connections" in found
    assert sorted(m for m in found if m.split(".")[0] in FORBIDDEN) == [
        "audit.models", "audit.services.recall_record", "connections.services", "connections.tasks",
    ]
