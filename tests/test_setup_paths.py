"""The set-up paths a reader meets: the Colab install cell, and the cached answers of a re-run."""

import json
import os
import re
import subprocess
import sys

from helpers import colab, config, sample_data

NOTEBOOKS = sorted(config.ROOT.glob("0[0-5]_*.ipynb"))


def _install_cell(nb_path):
    nb = json.loads(nb_path.read_text())
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


def test_every_notebook_has_the_same_guarded_install_cell():
    cells = {p.name: _install_cell(p) for p in NOTEBOOKS}
    assert len(cells) == 6 and len(set(cells.values())) == 1
    assert 'if "google.colab" in sys.modules' in next(iter(cells.values()))


def test_install_cell_does_nothing_outside_colab(tmp_path):
    code = _install_cell(NOTEBOOKS[0]) + "\nprint(os.getcwd())"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(tmp_path) and list(tmp_path.iterdir()) == []


def test_install_cell_in_colab_clones_and_installs(tmp_path):
    """With google.colab importable, the cell clones the project (here from this checkout) and installs."""
    fake = tmp_path / "fake_modules" / "google" / "colab"
    fake.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    work = tmp_path / "content"
    work.mkdir()
    cell = _install_cell(NOTEBOOKS[0])
    url = re.search(r'^REPO_URL = "([^"]+)"', cell, re.M)
    assert url, "the install cell names the repository in one setting, REPO_URL"
    code = "import google.colab\n" + cell.replace(url.group(1), str(config.ROOT)) + "\nprint(os.getcwd())"
    env = {**os.environ, "PYTHONPATH": str(fake.parent.parent), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith(os.path.join("content", "feedbackloop"))
    assert "no restart needed" in out.stdout and "Google Drive is not mounted" in out.stdout
    assert (work / "feedbackloop" / "helpers" / "config.py").exists()


def test_a_package_already_loaded_and_changed_asks_for_a_restart():
    assert colab.restart_needed({"numpy": "2.0.0", "trl": "1.16.0"}, {"numpy": "2.1.0", "trl": "1.16.0"}) == \
        ["numpy 2.0.0 -> 2.1.0"]
    assert colab.restart_needed({"trl": "1.16.0"}, {"trl": "1.16.0"}) == []


def test_with_drive_mounted_runs_go_there(tmp_path, monkeypatch):
    monkeypatch.delenv(colab.RUNS_ENV, raising=False)
    assert colab.keep_runs_on_drive(tmp_path / "not_mounted") is None and colab.RUNS_ENV not in os.environ
    drive = tmp_path / "MyDrive"
    drive.mkdir()
    runs = colab.keep_runs_on_drive(drive)
    assert config.paths("smoke", "hiring").run == runs / "hiring" / "smoke"


def test_answers_are_reused_only_with_the_same_settings(tmp_path, monkeypatch):
    calls = []
    def fake_generate(model, tokenizer, prompts, profile, desc="sampling"):
        calls.append(profile)
        return [{"prompt_id": p["id"], "sample": 0, "text": f"answer {len(calls)}", "new_tokens": 2, "finished": True}
                for p in prompts]
    monkeypatch.setattr(sample_data, "generate_responses", fake_generate)
    monkeypatch.delenv("FEEDBACKLOOP_FRESH", raising=False)
    prompts = [{"id": "p1"}, {"id": "p2"}]
    smoke = config.PROFILES["smoke"]
    path = tmp_path / "responses.jsonl"
    rows, info = sample_data.load_or_generate(path, "m", None, None, prompts, smoke)
    assert not info["reused"] and len(calls) == 1
    again, info = sample_data.load_or_generate(path, "m", None, None, prompts, smoke)
    assert info["reused"] and again == rows and len(calls) == 1
    for changed in [dict(model="other", prof=smoke), dict(model="m", prof=smoke.replace(max_new_tokens=5))]:
        _, info = sample_data.load_or_generate(path, changed["model"], None, None, prompts, changed["prof"])
        assert not info["reused"]
    monkeypatch.setenv("FEEDBACKLOOP_FRESH", "1")
    _, info = sample_data.load_or_generate(path, "m", None, None, prompts, smoke.replace(max_new_tokens=5))
    assert not info["reused"] and len(calls) == 4
