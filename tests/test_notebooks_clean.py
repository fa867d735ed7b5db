"""The committed notebooks carry no outputs and no long cells (tests/check_notebooks.py, also `make lint`)."""

import json

from check_notebooks import MAX_CELL_LINES, notebooks, problems, strip


def test_every_committed_notebook_is_clean():
    assert len(notebooks()) == 7
    assert [p for path in notebooks() for p in problems(path)] == []


def test_the_check_sees_outputs_and_long_cells_and_strip_removes_outputs(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": ["print(1)"], "outputs": [{"output_type": "stream", "text": "1"}],
                     "execution_count": 3, "metadata": {}},
                    {"cell_type": "code", "source": ["x = 1\n"] * (MAX_CELL_LINES + 1), "outputs": [],
                     "execution_count": None, "metadata": {}},
                    {"cell_type": "code", "source": [], "outputs": [], "execution_count": None, "metadata": {}}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "00_demo.ipynb"
    path.write_text(json.dumps(nb))
    found = problems(path)
    assert any("has outputs" in p for p in found) and any("execution count" in p for p in found)
    assert any(f"{MAX_CELL_LINES + 1} lines" in p for p in found) and any("empty code cell" in p for p in found)
    assert strip(path) and not any("outputs" in p or "execution count" in p for p in problems(path))
