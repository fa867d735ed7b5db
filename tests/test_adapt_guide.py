"""docs/adapt.md, "Adapt FeedbackLoop to your task and model" (linked from the README): every command in it runs, in
the order shown.

This is also where CI runs the support task end to end (`make pipeline TASK=support PROFILE=smoke`)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def guide_commands() -> list[str]:
    """Every line of the guide's bash blocks, in order: the whole page is the guide."""
    page = (ROOT / "docs" / "adapt.md").read_text()
    assert page.startswith("# Adapt FeedbackLoop to your task and model\n")
    blocks = re.findall(r"```bash\n(.*?)```", page, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip() and not line.startswith("#")]


def run(command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("FEEDBACKLOOP_TASK", None)
    env.pop("FEEDBACKLOOP_PROFILE", None)
    return subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000)


COPIED = ROOT / "helpers" / "tasks" / "mytask"     # the guide's new task: made by copying one folder


@pytest.fixture
def no_copied_task():
    shutil.rmtree(COPIED, ignore_errors=True)
    yield
    shutil.rmtree(COPIED, ignore_errors=True)


def test_the_guide_has_the_commands_it_promises():
    commands = guide_commands()
    assert commands[0] == "cp -r helpers/tasks/support helpers/tasks/mytask"
    assert any(c.startswith("make pipeline TASK=support") for c in commands)
    assert any("helpers.agreement" in c for c in commands) and any("FEEDBACKLOOP_MODEL=" in c for c in commands)


def test_every_command_of_the_guide_runs(no_copied_task):
    prompts = ROOT / "data" / "support" / "prompts.jsonl"
    shipped = prompts.read_bytes()
    for command in guide_commands():
        done = run(command)
        out = done.stdout + done.stderr
        if "helpers.models" in command:
            # with the Hub, the model resolves; without it, the reason is said plainly
            assert done.returncode == 0 or "needs the Hub, which is unreachable" in out, out[-2000:]
            continue
        assert done.returncode == 0, f"{command}\n{out[-3000:]}"
        if command.startswith("cp -r"):
            assert (COPIED / "__init__.py").exists()
        if "helpers.tasks mytask" in command:          # the copy is a task of its own name, with nothing else edited
            assert "task mytask" in out and "--- careful reply, gold" in out
        if "helpers.tasks support" in command:
            assert "task support" in out and "--- careful reply, gold" in out
        if "--prompts-only" in command:
            assert prompts.read_bytes() == shipped, "the generator no longer reproduces the shipped prompts"
        if "helpers.agreement" in command:
            made = ROOT / "data" / "generated" / "support" / "smoke" / "preferences_aggregated.jsonl"
            assert made.exists() and "comparisons" in out
        if command.startswith("make pipeline"):
            executed = ROOT / "runs" / "support" / "smoke" / "notebooks"
            assert sorted(p.name for p in executed.glob("0*.ipynb")) == [f"{n}.ipynb" for n in (
                "00_setup", "01_annotate", "02_reward_model", "03_ppo", "04_dpo", "05_eval_fairness")]
            metrics = json.loads((ROOT / "reports" / "smoke" / "support" / "metrics.json").read_text())
            assert metrics["task"] == "support" and "fairness" not in metrics
            assert {"refusal_rate", "over_refusal_rate", "conversation_success_rate"} <= set(metrics["safety"]["dpo"])
        if command.startswith("python -c"):
            assert "SmolLM2-360M" in out


def test_a_bad_preference_file_is_refused_and_nothing_is_written(tmp_path):
    bad = tmp_path / "mine.jsonl"
    good = (ROOT / "data" / "support" / "sample_preferences.jsonl").read_text().splitlines()[0]
    record = json.loads(good)
    record["winner"] = "left"
    bad.write_text(good + "\n" + json.dumps(record) + "\n")
    made = ROOT / "data" / "generated" / "support" / "smoke" / "preferences_aggregated.jsonl"
    before = made.stat().st_mtime_ns if made.exists() else None
    done = run(f"FEEDBACKLOOP_PROFILE=smoke python -m helpers.agreement {bad} --task support")
    assert done.returncode != 0
    assert "mine.jsonl:2:" in done.stderr and "winner" in done.stderr          # the file, the line, the field
    assert "nothing was written" in done.stderr
    assert (made.stat().st_mtime_ns if made.exists() else None) == before
    hiring = run(f"python -m helpers.agreement {ROOT / 'data' / 'hiring' / 'sample_preferences.jsonl'} --task support --profile smoke")
    assert hiring.returncode != 0 and "records of task hiring, not support" in hiring.stdout + hiring.stderr
