"""metrics.json is merged, never clobbered, and stages record time and memory."""

import pytest

from helpers import report


def test_update_deep_merges(tmp_path):
    path = tmp_path / "metrics.json"
    report.update(path, {"profile": "cpu", "stages": {"00_setup": {"seconds": 1.0}}})
    data = report.update(path, {"stages": {"01_annotate": {"seconds": 2.0}}})
    assert data == {"profile": "cpu", "stages": {"00_setup": {"seconds": 1.0}, "01_annotate": {"seconds": 2.0}}}
    assert report.get(report.read(path), "stages.01_annotate.seconds") == 2.0
    with pytest.raises(KeyError, match="stages.02_reward_model"):
        report.get(data, "stages.02_reward_model.seconds")


def test_stage_records_seconds_and_peak_memory(tmp_path):
    path = tmp_path / "metrics.json"
    stage = report.Stage("00_setup", path)
    block = bytearray(64 * 2**20)  # touch 64 MB so the peak is visibly above it
    block[::4096] = b"x" * len(block[::4096])
    entry = stage.finish()
    assert entry["seconds"] >= 0 and entry["peak_mem_mb"] >= 64
    assert report.read(path)["stages"]["00_setup"]["peak_mem_mb"] == entry["peak_mem_mb"]


def test_results_rows_show_what_ran_and_fail_loudly_on_a_missing_number():
    rm = {"quantization": "nf4", "heldout_accuracy_vs_gold": 0.71, "heldout_accuracy_vs_gold_ci95": [0.6, 0.8],
          "heldout_n": 62, "heldout_accuracy_vs_labels": 0.7, "clean": {"heldout_accuracy_vs_gold": 0.69},
          "ece": 0.05, "length_correlation": 0.1}
    rows = report.results_rows({"reward_model": rm})
    assert any("0.71 [0.60, 0.80] (n=62)" in r for r in rows)
    assert report.results_rows({}) == []
    del rm["ece"]
    with pytest.raises(KeyError, match="reward_model.ece"):
        report.results_rows({"reward_model": rm})


def test_results_rows_show_ppo_and_rloo_against_the_base_model():
    run = {"rm_score_mean": 0.4, "base_rm_score_mean": -0.1, "kl_to_base": 3.2, "gold_win_rate_vs_base": 0.6,
           "gold_win_rate_ci95": [0.46, 0.73], "heldout_prompts": 48, "train_seconds": 700}
    rows = report.results_rows({"ppo": run, "rloo": {k: v for k, v in run.items() if k != "base_rm_score_mean"}})
    ppo_row = next(r for r in rows if r.startswith("| PPO"))
    assert "+0.40 (base -0.10)" in ppo_row and "0.60 [0.46, 0.73] (n=48)" in ppo_row
    assert any(r.startswith("| RLOO") for r in rows)
    with pytest.raises(KeyError, match=r"no .rloo\."):
        report.results_rows({"ppo": run, "rloo": {"rm_score_mean": 0.1}})


def test_results_rows_show_dpo_next_to_the_reward_model():
    dpo = {"beta": 0.1, "loss_type": "sigmoid", "gold_win_rate_vs_base": 0.7, "gold_win_rate_ci95": [0.56, 0.81],
           "heldout_prompts": 48, "kl_to_base": 5.0, "implicit_accuracy_vs_gold": 0.61, "reward_model_accuracy_vs_gold": 0.58, "train_seconds": 500}
    rows = report.results_rows({"dpo": dpo})
    row = next(r for r in rows if r.startswith("| DPO"))
    assert "0.70 [0.56, 0.81] (n=48)" in row and "vs gold 0.61 (reward model: 0.58)" in row
    no_rm = next(r for r in report.results_rows({"dpo": {**dpo, "reward_model_accuracy_vs_gold": None}}) if r.startswith("| DPO"))
    assert "(reward model: not run)" in no_rm
    with pytest.raises(KeyError, match=r"no .dpo\.implicit_accuracy_vs_gold"):
        report.results_rows({"dpo": {k: v for k, v in dpo.items() if k != "implicit_accuracy_vs_gold"}})


def test_readme_block_says_which_stages_ran_after_the_whole_pipeline():
    data = {"profile": "cpu", "task": "hiring", "base_model": "m", "hardware": "h", "versions": {"torch": "2"},
            "pipeline": {"seconds": 100, "finished_at": "2026-01-01T10:00:00+00:00"},
            "stages": {"00_setup": {"seconds": 50, "peak_mem_mb": 1, "finished_at": "2026-01-01T09:59:00+00:00"},
                       "04_dpo": {"seconds": 60, "peak_mem_mb": 1, "finished_at": "2026-01-01T11:00:00+00:00"}}}
    assert "04_dpo run separately after it" in report.readme_block(data)
    data["stages"]["04_dpo"]["finished_at"] = "2026-01-01T09:59:30+00:00"
    assert "separately" not in report.readme_block(data)
