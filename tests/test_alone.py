"""Every notebook after 00 runs on its own, as in a fresh Colab machine: 03, 04 and 05, each in its own fresh copy
of the project (what a clone holds, no run of the notebooks before it), in the smoke profile, to their last cell.
What an earlier notebook would have made (the SFT policy, the reward model) is built where it is missing, and the
notebook says so in one line."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import config

ALONE = ("03_ppo", "04_dpo", "05_eval_fairness")


def fresh_copy(dest):
    """The project's files as a clone of this working tree would have them (tracked, and new files not ignored)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=config.ROOT, check=True,
                           capture_output=True, text=True).stdout.split("\0")
    for rel in filter(None, files):
        src = config.ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.mark.parametrize("name", ALONE)
def test_a_notebook_runs_alone(name, tmp_path):
    project = fresh_copy(tmp_path / "feedbackloop")
    assert not (project / "runs").exists() and not (project / "data" / "generated").exists()
    env = {**os.environ, "FEEDBACKLOOP_PROFILE": "smoke", "FEEDBACKLOOP_TASK": "hiring", "FEEDBACKLOOP_DATA": "",
           "FEEDBACKLOOP_CACHE": str(config.paths("smoke").cache)}   # the de-quantized offline model, made once
    env.pop("FEEDBACKLOOP_RUNS", None)
    out = project / "executed"
    done = subprocess.run([str(Path(sys.executable).parent / "jupyter-execute"), "--timeout=1800", f"--output={out}",
                           f"{name}.ipynb"], cwd=project, env=env, capture_output=True, text=True, timeout=2400)
    assert done.returncode == 0, done.stderr[-3000:]
    cells = [c for c in json.loads(out.with_suffix(".ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    assert cells[-1].get("execution_count"), "the last cell did not run"
    said = "".join("".join(o["text"]) for c in cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "No SFT policy from 00_setup" in said and "training it here" in said   # built where missing, and said
    if name != "04_dpo":                                  # DPO needs no reward model; 03 and 05 build theirs
        assert "No reward model from 02_reward_model" in said
