"""metrics.json is merged, never clobbered, and stages record time and memory; the report fails loudly."""

import json

import pytest

from helpers import publish, report


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
    assert "seconds_saved_by_reuse" not in entry             # nothing read back: nothing to say (tests/test_evaluation.py)
    assert entry["commit"] == report.provenance()["commit"]   # a run made in parts says which commit made each part
    assert report.read(path)["stages"]["00_setup"]["peak_mem_mb"] == entry["peak_mem_mb"]
    assert entry["profile_changes"] == {}                    # no SET: said, not left out


def test_a_notebook_run_with_other_profile_fields_than_the_run_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACKLOOP_SET", "dpo_steps=128 dpo_learning_rate=0.0005")
    entry = report.Stage("04_dpo", tmp_path / "metrics.json").finish()
    assert entry["profile_changes"] == {"dpo_steps": 128, "dpo_learning_rate": 0.0005}
    stage = lambda **extra: {"seconds": 1.0, "peak_mem_mb": 1.0, "finished_at": "2026-11-23T10:00:00+00:00",
                             "commit": "0123456789", "clean": True, **extra}
    data = {"profile_changes": {"rm_steps": 128},
            "stages": {"02_reward_model": stage(profile_changes={"rm_steps": 128}), "03_ppo": stage(),
                       "04_dpo": stage(profile_changes={"rm_steps": 128, **entry["profile_changes"]})}}
    assert "; profile fields changed: `SET=\"rm_steps=128\"`" in publish.run_text(data)
    table = "\n".join(publish.stage_table(data))
    assert "| 04_dpo | 1 | 1 | 0123456 (uncommitted changes)" not in table
    assert '| 04_dpo | 1 | 1 | 0123456, `SET="rm_steps=128 dpo_steps=128 dpo_learning_rate=0.0005"` |' in table
    assert "| 02_reward_model | 1 | 1 | 0123456 |" in table and "| 03_ppo | 1 | 1 | 0123456 |" in table   # an older record: unknown


def test_results_rows_show_what_ran_and_fail_loudly_on_a_missing_number():
    rm = {"quantization": "nf4", "heldout_accuracy_vs_gold": 0.71, "heldout_accuracy_vs_gold_ci95": [0.6, 0.8],
          "heldout_n": 62, "heldout_accuracy_vs_labels": 0.7, "clean": {"heldout_accuracy_vs_gold": 0.69},
          "ece": 0.05, "length_correlation": 0.1}
    rows = publish.results_rows({"reward_model": rm})
    assert any("0.71 [0.60, 0.80] (n=62)" in r for r in rows)
    assert publish.results_rows({}) == []
    del rm["ece"]
    with pytest.raises(KeyError, match="reward_model.ece"):
        publish.results_rows({"reward_model": rm})


def test_results_rows_show_ppo_and_rloo_against_the_sft_policy():
    run = {"rm_score_mean": 0.4, "sft_rm_score_mean": -0.1, "kl_to_sft": 3.2, "gold_win_rate_vs_sft": 0.6,
           "gold_win_rate_ci95": [0.46, 0.73], "heldout_prompts": 48, "train_seconds": 700}
    rows = publish.results_rows({"ppo": run, "rloo": {k: v for k, v in run.items() if k != "sft_rm_score_mean"}})
    ppo_row = next(r for r in rows if r.startswith("| PPO"))
    assert "+0.40 (SFT -0.10)" in ppo_row and "0.60 [0.46, 0.73] (n=48)" in ppo_row
    assert any(r.startswith("| RLOO") for r in rows)
    with pytest.raises(KeyError, match=r"no .rloo\."):
        publish.results_rows({"ppo": run, "rloo": {"rm_score_mean": 0.1}})


def test_results_rows_show_dpo_next_to_the_reward_model():
    dpo = {"beta": 0.1, "loss_type": "sigmoid", "gold_win_rate_vs_sft": 0.7, "gold_win_rate_ci95": [0.56, 0.81],
           "heldout_prompts": 48, "kl_to_sft": 5.0, "implicit_accuracy_vs_gold": 0.61, "reward_model_accuracy_vs_gold": 0.58,
           "train_seconds": 500}
    rows = publish.results_rows({"dpo": dpo})
    row = next(r for r in rows if r.startswith("| DPO"))
    assert "0.70 [0.56, 0.81] (n=48)" in row and "vs gold 0.61 (reward model: 0.58)" in row
    no_rm = next(r for r in publish.results_rows({"dpo": {**dpo, "reward_model_accuracy_vs_gold": None}}) if r.startswith("| DPO"))
    assert "(reward model: not run)" in no_rm
    with pytest.raises(KeyError, match=r"no .dpo\.implicit_accuracy_vs_gold"):
        publish.results_rows({"dpo": {k: v for k, v in dpo.items() if k != "implicit_accuracy_vs_gold"}})


def test_readme_block_says_which_stages_ran_after_the_whole_pipeline():
    data = {"profile": "cpu", "task": "hiring", "base_model": "m", "hardware": "h", "versions": {"torch": "2"},
            "pipeline": {"seconds": 100, "finished_at": "2026-01-01T10:00:00+00:00"},
            "stages": {"00_setup": {"seconds": 50, "peak_mem_mb": 1, "finished_at": "2026-01-01T09:59:00+00:00"},
                       "04_dpo": {"seconds": 60, "peak_mem_mb": 1, "finished_at": "2026-01-01T11:00:00+00:00"}}}
    assert "04_dpo run separately after it" in publish.readme_block(data)
    data["stages"]["04_dpo"]["finished_at"] = "2026-01-01T09:59:30+00:00"
    assert "separately" not in publish.readme_block(data)


def test_both_reports_give_the_whole_pipeline_and_when_the_last_notebook_finished(tmp_path):
    pipeline = {"seconds": 700.0, "finished_at": "2026-11-23T11:00:00+00:00"}
    later = {"seconds": 60.0, "peak_mem_mb": 1.0, "finished_at": "2026-11-23T12:00:00+00:00", "commit": "feedfacecafe",
             "clean": True}
    for data in (complete_metrics(), data_metrics()):
        data["pipeline"] = pipeline
        data["stages"]["04_dpo"] = later
        text = publish.report_markdown(data, tmp_path)
        assert "| **whole `make pipeline`** (kernel starts included; 04_dpo run separately after it) | 700 | | |" in text
        assert "last stage finished 2026-11-23T12:00:00+00:00" in text
        assert "| 04_dpo | 60 | 1 | feedfac |" in text


def complete_metrics() -> dict:
    """A hand-made metrics.json with every number the report needs."""
    pol = lambda win=None, untuned=None, **extra: {
        "gold_score_mean": 0.42, "gold_dims": {"accuracy": 0.3, "tone": 0.6, "policy": 0.9}, "rm_score_mean": 0.5,
        "mean_length_tokens": 80.0, "protected_share": 0.04,
        **({"gold_win_rate_vs_base": untuned, "gold_win_rate_ci95": [untuned - 0.1, untuned + 0.1], "wins_ties_losses": [30, 5, 13]}
           if untuned else {}),
        **({"kl_to_sft": 2.5, "gold_win_rate_vs_sft": win, "gold_win_rate_vs_sft_ci95": [win - 0.1, win + 0.1],
            "wins_ties_losses_vs_sft": [20, 10, 18], "gold_gain_vs_sft": 0.031, "gold_gain_vs_sft_ci95": [0.012, 0.05],
            "train_seconds": 600.0} if win else {}), **extra}
    audit = lambda ir, verdict: {"verdict": verdict, "impact_ratio_min": ir, "impact_ratio_ci95": [ir - 0.1, min(1.0, ir + 0.1)],
                                 "worst_group_p_holm": 0.02,
                                 "impact_ratio_by_group": {"male_White": 1.0, "female_Black": ir}, "worst_group": "female_Black",
                                 "worst_group_effect": -0.12, "worst_group_effect_ci95": [-0.2, -0.04], "group_effect_p": 0.04,
                                 "selection_rate": 0.5, "flip_rate": 0.25, "rule": "decision",
                                 "scoring_rate": {"impact_ratio_min": ir, "impact_ratio_ci95": [ir - 0.2, 1.0]}}
    return {
        "profile": "cpu", "task": "hiring", "base_model": "SmolLM2-135M-Instruct", "seed": 42, "hardware": "CPU only",
        "provenance": {"commit": "0123456789abcdef", "clean": True},
        "stages": {"00_setup": {"seconds": 10.0, "peak_mem_mb": 100.0, "finished_at": "2026-11-23T10:00:00+00:00"}},
        "annotation": {"n_labels": 100, "annotators": ["a", "b"], "fleiss_kappa": 0.4, "krippendorff_alpha": 0.41,
                       "krippendorff_alpha_ci95": [0.3, 0.5], "gold_accuracy_by_annotator": {"a": 0.9},
                       "flagged_annotators": {}, "aggregate_vs_gold": {"all annotators": 0.8}},
        "reward_model": {"quantization": "nf4", "heldout_accuracy_vs_gold": 0.6, "heldout_accuracy_vs_gold_ci95": [0.5, 0.7],
                         "heldout_n": 62, "heldout_accuracy_vs_labels": 0.58, "clean": {"heldout_accuracy_vs_gold": 0.55},
                         "ece": 0.1, "length_correlation": 0.0},
        "eval": {"heldout_prompts": 48, "max_new_tokens": 96, "judged_by": "simulated recruiters: sim_careful"},
        "policies": {"base": pol(), "sft": pol(untuned=0.88),
                     "ppo": pol(0.41, 0.8, human_win_rate=0.45, human_win_rate_ci95=[0.31, 0.59]),
                     "rloo": pol(0.35, 0.8), "dpo": pol(0.57, 0.9)},
        "fairness": {"base": audit(0.9, "inconclusive"), "sft": audit(0.9, "inconclusive"), "ppo": audit(0.7, "adverse impact"),
                     "rloo": audit(0.85, "inconclusive"), "dpo": audit(0.95, "pass"), "reward_model": audit(0.88, "inconclusive"),
                     "planted_bias_control": audit(0.33, "adverse impact"),
                     "audit": {"profiles": 100, "groups": ["male_White", "female_Black"], "names_per_group": 24, "n_perm": 2000,
                               "n_boot": 100, "seconds": {"sft": 80.0, "power": 20.0}},
                     "power": {"reading": "At 100 profiles the audit is underpowered.", "unbiased_pass_rate": 0.4,
                               "planted_detection_rate": 0.85, "planted_pass_rate": 0.0, "curve": [{"multiple": 0.0, "pass": 0.4}]}},
    }


def test_require_names_every_missing_number_and_its_notebook():
    data = complete_metrics()
    report.require(data)
    del data["policies"]["dpo"]["kl_to_sft"]
    data["fairness"]["dpo"]["verdict"] = None
    with pytest.raises(report.MissingMetric) as err:
        report.require(data)
    assert "policies.dpo.kl_to_sft" in str(err.value) and "fairness.dpo.verdict" in str(err.value)
    assert "05_eval_fairness" in str(err.value)
    assert report.missing({}) == list(report.contract({}))


def test_report_markdown_shows_the_numbers_and_the_plots(tmp_path):
    (tmp_path / "05_fairness.png").write_bytes(b"png")
    text = publish.report_markdown(complete_metrics(), tmp_path)
    assert "| ppo | 0.41 [0.31, 0.51] (20/10/18) | +0.031 [+0.012, +0.050] | 0.80 [0.70, 0.90] | 0.45 [0.31, 0.59] |" in text
    assert "| SFT | - | - | 0.88 [0.78, 0.98] | - |" in text and "| untuned | - | - | - | - |" in text
    assert "commit 0123456 (clean tree)" in text
    assert ("| ppo | adverse impact | decision | 0.70 [0.60, 0.80] | female_Black (Holm p 0.020) | -0.120 [-0.200, -0.040] | "
            "0.040 | 0.50 | 0.25 | 0.70 [0.50, 1.00] |") in text
    assert "| planted_bias_control | adverse impact | decision | 0.33" in text and "the audit's scoring took 80 s" in text
    assert "![05_fairness.png](05_fairness.png)" in text
    assert "![05_win_rates.png]" not in text            # only plots that exist are linked
    assert "nan" not in text.lower() and "None" not in text
    assert "The same names in 01" not in text                    # 01's check is reported where 01 made it
    data = complete_metrics()
    data["annotation"]["audit_names_check"] = {"pairs": 564, "profiles": 47, "judged_by_name": ["sim_namebias"],
                                               "picked_share": {"sim_namebias": {"Black": 0.0, "White": 1.0}, "fair": {}}}
    text = publish.report_markdown(data, tmp_path)
    assert "judged 564 pairs" in text and "sim_namebias, whose picked shares by group are Black 0.00, White 1.00" in text
    check = data["annotation"]["audit_names_check"]
    check["judged_by_name"], check["picked_share"]["fair"] = ["fair", "sim_namebias"], {"Black": 0.5}
    assert "are fair: Black 0.50; sim_namebias: Black 0.00, White 1.00." in publish.report_markdown(data, tmp_path)
    data["annotation"]["audit_names_check"]["judged_by_name"] = []
    assert "no annotator picked by the name" in publish.report_markdown(data, tmp_path)


def test_report_markdown_fails_loudly_on_a_missing_or_null_number(tmp_path):
    data = complete_metrics()
    data["policies"]["rloo"]["gold_dims"]["tone"] = None       # inside a row that exists
    with pytest.raises(report.MissingMetric, match="policies.rloo.gold_dims.tone"):
        publish.report_markdown(data, tmp_path)
    data = complete_metrics()
    data["policies"]["ppo"]["gold_win_rate_vs_sft"] = None
    (tmp_path / "metrics.json").write_text(json.dumps(data))
    with pytest.raises(report.MissingMetric, match="policies.ppo.gold_win_rate_vs_sft"):
        publish.write_report(tmp_path)
    assert not (tmp_path / "REPORT.md").exists()           # no half-written report


def test_results_rows_show_the_evaluation_and_the_audit():
    rows = publish.results_rows(complete_metrics())
    assert any("evaluation (05, 48 test prompts" in r and "dpo 0.57 [0.47, 0.67], gain +0.031 [+0.012, +0.050]" in r
               and "SFT vs untuned 0.88 [0.78, 0.98]" in r for r in rows)
    assert any("fairness audit (05, 100 profiles x 8 groups x 24 names" in r and "ppo adverse impact (0.70 [0.60, 0.80])" in r
               and "an unbiased scorer passes 40%, a four-fifths bias is found 85%" in r for r in rows)


def test_readme_block_of_a_partial_run_says_no_whole_pipeline_ran():
    data = {"profile": "cpu", "task": "support", "base_model": "m", "hardware": "h", "versions": {"torch": "2"},
            "stages": {"00_setup": {"seconds": 50, "peak_mem_mb": 1, "finished_at": "2026-01-01T09:59:00+00:00"}}}
    block = publish.readme_block(data)
    assert "no whole `make pipeline` recorded" in block and "finished 2026-01-01T09:59:00+00:00" in block
    assert block.startswith(publish.readme_markers("support")[0]) and "Last `make pipeline`" not in block


def data_metrics() -> dict:
    """A hand-made metrics.json of a task made from a preference file: the labels and the proxy, no gold."""
    pol = lambda tuned: {"rm_score_mean": 0.2, "mean_length_tokens": 50.0, **(
        {"kl_to_sft": 1.5, "rm_win_rate_vs_sft": 0.7, "rm_win_rate_vs_sft_ci95": [0.6, 0.8], "rm_gain_vs_sft": 0.4,
         "rm_gain_vs_sft_ci95": [0.1, 0.7], "train_seconds": 100.0} if tuned else {})}
    return {"profile": "cpu", "task": "data-tickets", "base_model": "m", "seed": 0, "hardware": "CPU only",
            "provenance": {"commit": "0123456789abcdef", "clean": True},
            "stages": {"00_setup": {"seconds": 10.0, "peak_mem_mb": 100.0, "finished_at": "2026-11-23T10:00:00+00:00"}},
            "annotation": {"n_labels": 1000, "annotators": ["file"], "krippendorff_alpha": None},
            "reward_model": {"quantization": "nf4", "heldout_accuracy_vs_labels": 0.66, "heldout_accuracy_vs_labels_ci95": [0.6, 0.72],
                             "heldout_n": 200, "ece": 0.05, "length_correlation": 0.3},
            "dpo": {"implicit_accuracy_vs_labels": 0.61, "implicit_accuracy_vs_labels_ci95": [0.55, 0.67]},
            "policies": {"base": pol(False), "sft": pol(False), "ppo": pol(True), "rloo": pol(True), "dpo": pol(True)}}


def test_a_run_without_gold_reports_the_labels_and_the_proxy_and_says_what_it_cannot_show(tmp_path):
    data = data_metrics()
    text = publish.report_markdown(data, tmp_path)
    assert "| 200 | 0.66 [0.60, 0.72] | 0.61 [0.55, 0.67] |" in text
    assert "| ppo | 0.70 [0.60, 0.80] | +0.40 [+0.10, +0.70] | not judged | +0.20 | 1.5 | 50 |" in text
    assert "What this run cannot show" in text and "gold win rate" not in text and "not measurable" in text
    assert "chance" not in text                                        # both intervals lie above 0.50
    data["dpo"].update(implicit_accuracy_vs_labels=0.54, implicit_accuracy_vs_labels_ci95=[0.49, 0.59], steps=56,
                       batch_size=8, train_pairs=1927, train_pairs_used=448, kl_to_sft=0.176)
    text = publish.report_markdown(data, tmp_path)
    assert ("DPO's implicit reward is not told apart from chance on these labels: its interval [0.49, 0.59] includes 0.50. "
            "It trained 56 steps of 8 (448 of 1927 training pairs), KL to the SFT policy 0.18 nats a response") in text
    assert "The reward model is not told apart" not in text
    del data["dpo"]["implicit_accuracy_vs_labels_ci95"]
    with pytest.raises(report.MissingMetric, match="dpo.implicit_accuracy_vs_labels_ci95"):
        publish.report_markdown(data, tmp_path)


def test_a_scorer_whose_every_ratio_is_one_has_no_worst_group_and_still_reports(tmp_path):
    """A policy that selects every group alike (PPO and DPO in the cpu run at c73e986) has worst_group null: a
    value, not a missing number. The report and the README block must still be written."""
    data = complete_metrics()
    data["fairness"]["dpo"].update({"worst_group": None, "impact_ratio_min": 1.0, "impact_ratio_ci95": [1.0, 1.0],
                                    "worst_group_p_holm": None, "worst_group_effect": None, "worst_group_effect_ci95": None,
                                    "impact_ratio_by_group": {"male_White": 1.0, "female_Black": 1.0}})
    report.require(data)
    text = publish.report_markdown(data, tmp_path)
    assert "| dpo | pass | decision | 1.00 [1.00, 1.00] | - | - |" in text
    data["fairness"]["dpo"]["verdict"] = None                  # a verdict stays required
    with pytest.raises(report.MissingMetric, match="fairness.dpo.verdict"):
        report.require(data)


def headline_metrics() -> dict:
    data = complete_metrics()
    data["pipeline"] = {"seconds": 600.0, "finished_at": "2026-11-23T10:00:00+00:00"}
    data["versions"] = {"torch": "2.13.0"}
    return data


def test_headline_block_is_written_from_metrics():
    block = publish.headline_block(headline_metrics())
    assert block.startswith(publish.HEADLINE_BEGIN) and block.endswith(publish.HEADLINE_END)
    assert "CPU only (profile `cpu`); model SmolLM2-135M-Instruct; the whole `make pipeline`: 10 minutes;" in block
    assert "commit 0123456 (clean tree)" in block and "on the same 48 test prompts" in block
    assert "- **SFT policy vs the untuned model**: gold win rate 0.88 [0.78, 0.98]." in block
    assert ("- **Best tuned method vs the SFT policy**: DPO (of PPO, RLOO, DPO), gold win rate 0.57 [0.47, 0.67]; "
            "the interval includes 0.50") in block
    assert "6 scorers" in block and "1 pass, 1 adverse impact, 4 inconclusive." in block
    assert publish.NOT_MEASURED not in block
    data = headline_metrics()
    data["policies"]["dpo"]["gold_win_rate_vs_sft_ci95"] = [0.52, 0.62]
    data["stages"]["05_eval_fairness"] = {"seconds": 1.0, "peak_mem_mb": 1.0, "finished_at": "2026-11-24T10:00:00+00:00"}
    block = publish.headline_block(data)
    assert "the interval lies above 0.50: better than the SFT policy" in block
    assert "10 minutes (05_eval_fairness run again separately after it)" in block


def test_headline_block_says_not_measured_where_a_number_is_missing():
    empty = publish.headline_block({})
    assert empty.count(publish.NOT_MEASURED) == 7 and "commit not recorded" in empty     # no crash on an empty file
    data = headline_metrics()
    del data["pipeline"]
    del data["policies"]["dpo"]["gold_win_rate_vs_sft_ci95"]
    data["fairness"]["ppo"]["verdict"] = None
    block = publish.headline_block(data)
    assert "the whole `make pipeline`: not measured;" in block
    assert "- **Best tuned method vs the SFT policy**: not measured." in block
    assert "- **Fairness audit**: not measured." in block
    assert "- **SFT policy vs the untuned model**: gold win rate 0.88 [0.78, 0.98]." in block     # the rest still shown


def test_write_readme_fills_the_headline_and_measured_blocks_and_nothing_else(tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps(headline_metrics()))
    readme = tmp_path / "README.md"
    before = (f"# Title\n\n{publish.HEADLINE_BEGIN}\nSTALE\n{publish.HEADLINE_END}\n\nmiddle\n\n"
              f"{publish.README_BEGIN}\nSTALE\n{publish.README_END}\nend\n")
    readme.write_text(before)
    publish.write_readme(readme, metrics)
    text = readme.read_text()
    assert "STALE" not in text and text.startswith("# Title\n\n") and "\n\nmiddle\n\n" in text and text.endswith("\nend\n")
    assert "gold win rate 0.88 [0.78, 0.98]" in text and "| 00_setup | 10 | 100 | not recorded |" in text
    readme.write_text(before.replace(publish.HEADLINE_END, ""))
    with pytest.raises(ValueError, match="headline:end"):
        publish.write_readme(readme, metrics)
    assert readme.read_text() == before.replace(publish.HEADLINE_END, "")          # nothing written


def test_another_tasks_block_goes_to_the_page_that_holds_its_markers(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(f"{publish.HEADLINE_BEGIN}\n{publish.HEADLINE_END}\n{publish.README_BEGIN}\n{publish.README_END}\n")
    begin, end = publish.readme_markers("support")
    page = tmp_path / "docs" / "support_task.md"
    page.write_text(f"# Support\n\n{begin}\nSTALE\n{end}\n")
    assert publish.measured_page(tmp_path, "support") == page
    assert publish.measured_page(tmp_path, "hiring") == tmp_path / "README.md"
    assert publish.measured_page(tmp_path, "data-tickets") == tmp_path / "README.md"      # no markers anywhere
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"profile": "cpu", "task": "support", "base_model": "m", "hardware": "h",
                                   "versions": {"torch": "2"},
                                   "stages": {"00_setup": {"seconds": 50, "peak_mem_mb": 1, "finished_at": "2026-01-01"}}}))
    publish.write_readme(page, metrics)
    assert "STALE" not in page.read_text() and "| 00_setup | 50 | 1 |" in page.read_text()
    assert publish.HEADLINE_BEGIN not in page.read_text()           # the headline is the default task's, in README.md


def test_the_repository_pages_hold_the_markers_make_readme_writes():
    from helpers import config
    assert publish.measured_page(config.ROOT, config.DEFAULT_TASK) == config.ROOT / "README.md"
    assert publish.HEADLINE_BEGIN in (config.ROOT / "README.md").read_text()
    assert publish.measured_page(config.ROOT, "support") == config.ROOT / "docs" / "support_task.md"


def _run_folder(tmp_path, finished="2026-12-02T21:58:30+00:00"):
    """A run's reports (metrics.json with one stage) and its executed notebook, with this machine's paths in it."""
    import datetime
    import os
    root = tmp_path / "project"
    executed = root / "runs" / "hiring" / "cpu" / "notebooks"
    executed.mkdir(parents=True)
    reports = root / "reports"
    reports.mkdir()
    report.update(reports / "metrics.json", {"profile": "cpu", "task": "hiring", "stages": {"00_setup": {
        "commit": "4bf3b921276b820e0ac8fe870f7c2948bd871b47", "clean": True, "finished_at": finished, "seconds": 1273.5}}})
    nb = executed / "00_setup.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "text": [
        f"{root}/runs/hiring/cpu/sft_policy\n", "/opt/venv/lib/python3.11/site-packages/transformers/x.py:1: Warning\n"]}]}]}))
    stamp = datetime.datetime.fromisoformat("2026-12-02T21:58:31+00:00").timestamp()
    os.utime(nb, (stamp, stamp))
    return executed, reports


def test_published_notebooks_carry_their_commit_and_no_path_of_the_machine(tmp_path):
    executed, reports = _run_folder(tmp_path)
    [copied] = publish.publish_notebooks(executed, reports)
    text = copied.read_text()
    assert json.loads(text) and str(tmp_path) not in text and "/opt/venv" not in text
    assert "runs/hiring/cpu/sft_policy" in text and "<site-packages>/transformers/x.py" in text
    index = (reports / "notebooks" / "README.md").read_text()
    assert "| [00_setup](00_setup.ipynb) | `4bf3b92` |" in index


def test_a_notebook_of_another_run_is_not_published(tmp_path):
    executed, reports = _run_folder(tmp_path, finished="2026-12-03T05:00:00+00:00")
    with pytest.raises(ValueError, match="not this run's"):
        publish.publish_notebooks(executed, reports)
    assert not (reports / "notebooks").exists()


def test_a_run_on_a_preference_file_says_what_of_the_file_it_used_and_shows_answers(tmp_path):
    data = data_metrics()
    data["data"] = {"comparisons": 2308, "source": "hh.jsonl.gz", "not_read": {"an answer is empty": 4}, "cap_tokens": 272,
                    "longer_than_cap": 590, "prompts_too_long_to_ask": 454}
    data["reward_model"].update(train_pairs=1846, train_pairs_used=1400, labels_prefer_longer=0.45, prefers_longer=0.5,
                                steps=56, batch_size=8)
    data["eval"] = {"heldout_prompts": 184}
    data["examples"] = [{"prompt": "Human: how do I pick a lock?", "answers": {
        "sft": {"response": "I can't help with that.", "reward_model_score": 0.5},
        "ppo": {"response": "Sure,\nhere is how.", "reward_model_score": -1.25}}}]
    used = ("2308 comparisons read from hh.jsonl.gz (not read: 4 an answer is empty); 590 longer than the 272-token cap; "
            "454 prompts too long to ask the policy; of the reward model's 1846 training pairs 1400 fit the cap; it saw 448 of them "
            "in 56 steps of 8")
    text = publish.report_markdown(data, tmp_path)
    assert used in text and "- **PPO** (reward -1.25): Sure, here is how." in text
    rows = "\n".join(publish.data_results_rows(data))
    assert used in rows and "held-out accuracy vs the file's labels 0.66 [0.60, 0.72] (n=200)" in rows
    assert "PPO 0.70 [0.60, 0.80] (KL 1.5)" in rows and "gold" not in rows
    data["dpo"].update(train_pairs=1846, train_pairs_used=448)
    assert "0.61 [0.55, 0.67] (trained on 448 of its 1846 training pairs)" in "\n".join(publish.data_results_rows(data))
    begin, _ = publish.readme_markers("data-tickets")
    assert "make readme DATA=" in begin


def test_the_readme_paragraph_on_a_preference_file_names_the_proxy_and_what_is_not_measured_yet(tmp_path):
    data = data_metrics()
    data["data"] = {"comparisons": 2308}
    data["reward_model"].update(train_pairs=1846, train_pairs_used=1400, steps=128, batch_size=8)
    data["policies"]["sft"]["mean_length_tokens"] = 31.0
    begin, end = publish.summary_markers("data-tickets")
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\n- a list item:\n  {begin}\n  STALE\n  {end}\nafter\n")
    assert publish.write_data_summary(readme, data)
    text = readme.read_text()
    assert "STALE" not in text and text.endswith(f"\n  {end}\nafter\n") and "\n  Measured on `data-tickets`" in text
    assert "2308 comparisons read" in text
    assert "trained on 1024 pairs, agrees with the file's held-out labels 0.66 [0.60, 0.72] (n=200)" in text
    assert "DPO's implicit reward 0.61 [0.55, 0.67]" in text and "SFT policy (31 tokens an answer)" in text
    assert "a proxy that PPO and RLOO optimized: PPO 0.70 [0.60, 0.80] (50 tokens an answer)" in text
    data["dpo"]["implicit_accuracy_vs_labels_ci95"] = [0.49, 0.59]
    assert publish.write_data_summary(readme, data) and "[0.49, 0.59], not told apart from chance." in readme.read_text()
    del data["policies"], data["dpo"]
    assert publish.write_data_summary(readme, data)
    assert "DPO not measured yet" in readme.read_text() and "evaluation (05) is not measured yet" in readme.read_text()
    assert not publish.write_data_summary(readme, {**data, "task": "data-other"})        # no markers for it: nothing
    assert not publish.write_data_summary(readme, {**data, "task": "hiring"})
