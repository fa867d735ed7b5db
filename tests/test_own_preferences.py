"""docs/own_preferences.md, "Bring your own preferences" (linked from the README): every command in it runs, in the
order shown (the smoke pipeline, 00-05, on the support sample), and 00 and 01 run on a preference file in each format
the section names."""

import json
import random
import re
import shutil

import pytest
from test_adapt_guide import ROOT, run

from helpers import config


def section_commands() -> list[str]:
    """Every line of the page's bash blocks, in order: the whole page is the section."""
    page = (ROOT / "docs" / "own_preferences.md").read_text()
    assert page.startswith("# Bring your own preferences\n")
    blocks = re.findall(r"```bash\n(.*?)```", page, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip() and not line.startswith("#")]


def made_by(task: str) -> list:
    """Every folder a smoke run of `task` writes (all of them ignored by git)."""
    return [ROOT / "data" / "generated" / task, ROOT / "runs" / task, ROOT / "reports" / "smoke" / task]


@pytest.fixture
def clean_runs():
    made = []
    yield made
    for task in made:
        for folder in made_by(task):
            shutil.rmtree(folder, ignore_errors=True)


def check_run(task: str) -> dict:
    """What a smoke pipeline on a data task must leave: six executed notebooks, the labels' numbers and the proxy's,
    no gold and no audit, and a report that says what it cannot show."""
    executed = ROOT / "runs" / task / "smoke" / "notebooks"
    assert sorted(p.name for p in executed.glob("0*.ipynb")) == [f"{n}.ipynb" for n in (
        "00_setup", "01_annotate", "02_reward_model", "03_ppo", "04_dpo", "05_eval_fairness")]
    reports = ROOT / "reports" / "smoke" / task
    metrics = json.loads((reports / "metrics.json").read_text())
    assert metrics["task"] == task and "fairness" not in metrics and "safety" not in metrics
    assert 0 <= metrics["reward_model"]["heldout_accuracy_vs_labels"] <= 1 and "heldout_accuracy_vs_gold" not in metrics["reward_model"]
    assert "implicit_accuracy_vs_labels_ci95" in metrics["dpo"] and "gold_win_rate_vs_sft" not in metrics["dpo"]
    assert {"rm_win_rate_vs_sft", "rm_win_rate_vs_sft_ci95"} <= set(metrics["policies"]["dpo"])
    assert "What this run cannot show" in (reports / "REPORT.md").read_text()
    return metrics


def test_the_section_has_the_commands_it_promises():
    commands = section_commands()
    assert commands[0].startswith("python -m helpers.preference_io ")
    assert any(c.startswith("make pipeline DATA=") for c in commands)


def test_every_command_of_the_section_runs(clean_runs):
    for command in section_commands():
        done = run(command)
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"{command}\n{out[-3000:]}"
        if "helpers.preference_io" in command:
            assert '"rows"' in out and '"winners"' in out
        if command.startswith("make pipeline DATA="):
            task = config.data_task_name(command.split("DATA=", 1)[1].split()[0])
            clean_runs.append(task)
            metrics = check_run(task)
            assert metrics["annotation"]["krippendorff_alpha"] is not None   # the support sample: several annotators


QUESTIONS = [f"Question {i}: how do I change setting {i} of my account?" for i in range(40)]


def trl_rows(conversational: bool) -> list[dict]:
    """40 prompts x 2 comparisons, chosen always first in the file (as TRL writes them)."""
    rng = random.Random(0)
    rows = []
    for i, q in enumerate(QUESTIONS):
        for k in range(2):
            good = f"Open Settings, then Account, then item {i}; change it there and save."
            bad = rng.choice(["No idea.", "Ask someone else.", "That cannot be changed."]) + f" ({k})"
            if conversational:
                rows.append({"prompt": [{"role": "system", "content": "You answer account questions briefly."},
                                        {"role": "user", "content": q}],
                             "chosen": [{"role": "assistant", "content": good}], "rejected": [{"role": "assistant", "content": bad}]})
            else:
                rows.append({"prompt": q, "chosen": good, "rejected": bad})
    return rows


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def trl_standard(folder):
    return write(folder / "acct_standard.jsonl", trl_rows(False))


def trl_conversational(folder):
    return write(folder / "acct_conversational.jsonl", trl_rows(True))


def dataset_folder(folder):
    import datasets
    datasets.Dataset.from_list(trl_rows(False)).save_to_disk(str(folder / "acct_dataset"))
    return folder / "acct_dataset"


def record_format(folder):
    """Two annotators a comparison, who mostly agree: the project's own records."""
    rng = random.Random(1)
    recs = []
    for n, r in enumerate(trl_rows(False)):
        for who in ("ann1", "ann2"):
            first = rng.random() < 0.5
            a, b = (r["chosen"], r["rejected"]) if first else (r["rejected"], r["chosen"])
            winner = ("a" if first else "b") if rng.random() < 0.85 else ("b" if first else "a")
            recs.append({"id": f"c{n}@{who}", "task": "anything", "prompt_id": f"q{n // 2}", "prompt": r["prompt"],
                         "response_a": a, "response_b": b, "winner": winner, "annotator": who, "tags": {"pair_id": f"c{n}"}})
    return write(folder / "acct_records.jsonl", recs)


@pytest.mark.parametrize("make", [trl_standard, trl_conversational, dataset_folder, record_format])
def test_every_format_becomes_a_task_that_00_and_01_run_on(make, tmp_path, clean_runs):
    """Each format the section names is read into a task on which 00 (SFT on the chosen answers) and 01 (the labels in
    the store, agreement where two or more label a comparison) run. Past 01 a run reads 01's export and the task, the
    same whatever format the file had: the section's own `make pipeline DATA=...` (the support sample, records with
    several annotators) runs all six notebooks on one (test_every_command_of_the_section_runs)."""
    source = make(tmp_path)
    task = config.data_task_name(source)
    clean_runs.append(task)
    done = run(f"FEEDBACKLOOP_DATA={source} FEEDBACKLOOP_PROFILE=smoke jupyter-execute --timeout=-1 "
               "00_setup.ipynb 01_annotate.ipynb")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    metrics = json.loads((ROOT / "reports" / "smoke" / task / "metrics.json").read_text())
    assert metrics["task"] == task and {"00_setup", "01_annotate"} <= set(metrics["stages"])
    exported = [json.loads(line) for line in (ROOT / "data" / "generated" / task / "smoke" / "preferences.jsonl")
                .read_text().splitlines()]
    assert {r["winner"] for r in exported} == {"a", "b"}          # chosen-first rows are not all "a"
    several = make is record_format
    assert (metrics["annotation"]["krippendorff_alpha"] is not None) == several


def test_a_bad_file_stops_the_pipeline_before_anything_is_written(tmp_path, clean_runs):
    rows = trl_rows(False)[:5]
    bad = tmp_path / "acct_bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows[:2]) + "{not json\n" + json.dumps(rows[3]) + "\n")
    task = config.data_task_name(bad)
    clean_runs.append(task)
    done = run(f"make pipeline DATA={bad} PROFILE=smoke")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "acct_bad.jsonl:3" in out
    assert not any(folder.exists() for folder in made_by(task))      # nothing written for the refused file
