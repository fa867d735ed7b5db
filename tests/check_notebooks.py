"""Committed notebooks stay clean: no outputs, no execution counts, no empty code cells, no long code cells.

    python tests/check_notebooks.py            report problems (exit 1 if any); `make lint` runs it
    python tests/check_notebooks.py --strip    strip outputs and execution counts in place first

tests/test_notebooks_clean.py runs the same check inside `make test`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_CELL_LINES = 25   # a code cell a reader takes in at a glance; longer plumbing belongs in helpers/


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted(root.glob("[0-9][0-9]_*.ipynb")) + sorted((root / "app").glob("*.ipynb"))


def problems(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    out = []
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"])
        if not cell.get("id") and nb.get("nbformat_minor", 0) >= 5:   # nbformat 4.5 requires an id on every cell
            out.append(f"{path.name} cell {i}: has no id")
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs"):
            out.append(f"{path.name} cell {i}: has outputs (run `python tests/check_notebooks.py --strip`)")
        if cell.get("execution_count") is not None:
            out.append(f"{path.name} cell {i}: has an execution count (--strip)")
        if not source.strip():
            out.append(f"{path.name} cell {i}: empty code cell")
        if len(source.splitlines()) > MAX_CELL_LINES:
            out.append(f"{path.name} cell {i}: {len(source.splitlines())} lines (at most {MAX_CELL_LINES}: move plumbing "
                       "into helpers/ or split the cell)")
    return out


def strip(path: Path) -> bool:
    """Remove outputs and execution counts; True when the file changed."""
    text = path.read_text()
    nb = json.loads(text)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if new != text:
        path.write_text(new)
    return new != text


def main(argv: list[str]) -> int:
    if "--strip" in argv:
        for path in notebooks():
            if strip(path):
                print(f"stripped {path.relative_to(ROOT)}")
    found = [p for path in notebooks() for p in problems(path)]
    print("\n".join(found) if found else f"{len(notebooks())} notebooks clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
