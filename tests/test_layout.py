"""The packages show the stages (docs/ARCHITECTURE.md): the runtime core never reaches ``build/`` (training and
fitting assets) or ``measure/`` (evaluation), and ``build/`` never reaches ``measure/``. ``cli.py`` is the one entry
point that dispatches to all three, so it is not runtime code here."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "headrot_core"
OFFLINE = ("build", "measure")
ENTRY_POINTS = ("cli", "__main__")


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if p.relative_to(PACKAGE).parts[0] not in OFFLINE and p.stem not in ENTRY_POINTS)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, as an absolute name."""
    package = _module(path) if path.stem == "__init__" else _module(path).rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # from . import build
    return out


def _reaches(imports: set[str], package: str) -> set[str]:
    return {m for m in imports if m == package or m.startswith(package + ".")}


def test_runtime_code_imports_neither_build_nor_measure():
    files = _runtime_files()
    assert {"rotation", "face", "diffusion", "embedding", "yaw_net"} <= {p.stem for p in files}
    bad = {str(p.relative_to(PACKAGE)): sorted(_reaches(_imports(p), "headrot_core.build")
                                               | _reaches(_imports(p), "headrot_core.measure"))
           for p in files}
    assert not {k: v for k, v in bad.items() if v}


def test_build_never_imports_measure():
    bad = {str(p.relative_to(PACKAGE)): sorted(_reaches(_imports(p), "headrot_core.measure"))
           for p in (PACKAGE / "build").glob("*.py")}
    assert not {k: v for k, v in bad.items() if v}


def test_importing_the_runtime_core_loads_no_build_or_measure_module():
    modules = [_module(p) for p in _runtime_files()]
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('headrot_core.'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "headrot_core.rotation" in loaded
    assert not [m for m in loaded if m.split(".")[1] in OFFLINE]
