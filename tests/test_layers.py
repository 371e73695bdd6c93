"""The layering contracts in .importlinter hold, the checker can see them break, and no module
imports itself in a circle. The import graph is read from the source (grimp), so lazy imports
inside functions count as much as those at the top of a file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))"


def lint(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LINT, str(config)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_layering_contracts_hold():
    result = lint(ROOT / ".importlinter")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and "2 kept" in result.stdout


def test_the_checker_reports_a_broken_layer(tmp_path):
    """The same checker on a contract the code breaks (retrieval imports units): not a vacuous pass."""
    config = tmp_path / "inverted.ini"
    config.write_text("[importlinter]\nroot_packages =\n    bot\n    ui\n\n"
                      "[importlinter:contract:inverted]\nname = inverted\ntype = layers\n"
                      "layers =\n    bot.units\n    bot.retrieval\n", encoding="utf-8")
    result = lint(config)
    assert result.returncode == 1 and "BROKEN" in result.stdout, result.stdout + result.stderr
    assert "bot.retrieval" in result.stdout


def test_no_import_circles():
    graph = grimp.build_graph("bot", "ui", include_external_packages=False, cache_dir=None)
    circles = [(m, i) for m in sorted(graph.modules) for i in sorted(graph.find_modules_directly_imported_by(m))
               if graph.find_shortest_chain(importer=i, imported=m)]
    assert circles == [], f"modules that import each other (directly or through others): {circles}"
