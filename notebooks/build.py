"""Write the tutorial notebooks from their sources (``notebooks/src/*.py``) and execute them.

    python notebooks/build.py            # all notebooks, executed, outputs stored
    python notebooks/build.py 01_quickstart

Sources use the "percent" cell format: ``# %% [markdown]`` starts a markdown cell (its lines
start with ``# ``), ``# %%`` a code cell. The committed ``.ipynb`` files carry their outputs so
they read well on GitHub; ``tests/test_notebooks.py`` executes them again in CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
TIMEOUT = 900


def parse_cells(text: str) -> list[nbformat.NotebookNode]:
    cells: list[nbformat.NotebookNode] = []
    kind, lines = None, []

    def flush() -> None:
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines())
            cells.append(nbformat.v4.new_markdown_cell(body))
        elif body.strip():
            cells.append(nbformat.v4.new_code_cell(body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    flush()
    return cells


def build(name: str, execute: bool = True) -> Path:
    source = SOURCES / f"{name}.py"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = parse_cells(source.read_text())
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if execute:
        NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3",
                       resources={"metadata": {"path": str(HERE)}}).execute()
    target = HERE / f"{name}.ipynb"
    nbformat.write(notebook, target)
    return target


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in SOURCES.glob("*.py"))
    for name in names:
        print("built", build(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
