"""Publishing a run: the README's headline and measured-results blocks and reports/REPORT.md, all built from
metrics.json (helpers/report.py reads and writes it; docs/results.md lists its keys). `make readme` runs this module.

The default task's blocks are in README.md. Another task's measured block goes to whichever page holds its markers
(`<!-- measured:<task>:begin ... -->`), looked for in README.md and then docs/*.md: the support task's is in
docs/support_task.md; a task made from a preference file (`data-<name>`) gets one wherever its markers are put."""

from __future__ import annotations

import re
from pathlib import Path

from .report import POLICIES, MissingMetric, get, policy_name, read, require

README_BEGIN = "<!-- measured:begin (written by `make readme` from reports/metrics.json; do not edit) -->"
README_END = "<!-- measured:end -->"
HEADLINE_BEGIN = "<!-- headline:begin (written by `make readme` from reports/metrics.json; do not edit) -->"
HEADLINE_END = "<!-- headline:end -->"
NOT_MEASURED = "not measured"


def readme_markers(task: str | None) -> tuple[str, str]:
    """The markers around a task's measured block: the default task's (README.md), or `measured:<task>` for another
    (README.md or a docs page: measured_page)."""
    from .config import DEFAULT_TASK
    if task in (None, DEFAULT_TASK):
        return README_BEGIN, README_END
    how = "make readme DATA=<its file>" if task.startswith("data-") else f"make readme TASK={task}"
    return (f"<!-- measured:{task}:begin (written by `{how}` from reports/{task}/metrics.json; do not edit) -->",
            f"<!-- measured:{task}:end -->")


def finished_at(data: dict) -> str:
    """When the run a report describes finished: the whole `make pipeline`'s end, else the last notebook's."""
    return data.get("pipeline", {}).get("finished_at") or max(s.get("finished_at", "") for s in get(data, "stages").values())


def last_finished(data: dict) -> str:
    """When the last notebook of a run finished (a notebook run again after the whole `make pipeline` counts)."""
    return max([s.get("finished_at", "") for s in get(data, "stages").values()]
               + [data.get("pipeline", {}).get("finished_at", "")])


def stage_table(data: dict) -> list[str]:
    """Every notebook's seconds, peak memory and commit, then the whole `make pipeline`'s seconds where recorded."""
    lines = ["| notebook | seconds | peak memory (MB) | commit |", "|---|---|---|---|"]
    def commit(stage: dict) -> str:   # a notebook run again with other profile fields than the run's says which
        other = "profile_changes" in stage and stage["profile_changes"] != data.get("profile_changes", {})
        return stage_commit(stage) + (f", `SET=\"{changes_text(stage['profile_changes'])}\"`" if other else "")
    lines += [f"| {n} | {stage_seconds(s)} | {s['peak_mem_mb']:.0f} | {commit(s)} |" for n, s in sorted(get(data, "stages").items())]
    if "pipeline" in data:
        later = run_after_pipeline(data)
        note = f"; {', '.join(later)} run separately after it" if later else ""
        lines.append(f"| **whole `make pipeline`** (kernel starts included{note}) | {data['pipeline']['seconds']:.0f} | | |")
    return lines


def provenance_text(data: dict) -> str:
    """'commit abc1234 (clean tree)' from metrics.json's provenance, or what is missing."""
    prov = data.get("provenance") or {}
    if not prov.get("commit"):
        return "commit not recorded"
    return f"commit {prov['commit'][:7]} ({'clean tree' if prov.get('clean') else 'uncommitted changes'})"


def changes_text(changes: dict | None) -> str:
    """Profile fields a run changed with `SET=` ('rm_steps=128 dpo_steps=128'), or '' when none."""
    return " ".join(f"{k}={v}" for k, v in (changes or {}).items())


def run_text(data: dict) -> str:
    """The commit a run started from (each notebook records its own), the profile fields `SET=` changed, and its whole
    `make pipeline` time, if recorded."""
    return (f"{provenance_text(data)} when it started (each notebook's own: the table below){set_clause(data)}"
            + (f"; whole `make pipeline` {data['pipeline']['seconds']:.0f} s" if "pipeline" in data else ""))


def set_clause(data: dict) -> str:
    """'; profile fields changed: `SET="..."`' for a run made with `SET=`, else ''."""
    changed = changes_text(data.get("profile_changes"))
    return f"; profile fields changed: `SET=\"{changed}\"`" if changed else ""


def stage_commit(stage: dict) -> str:
    """The commit one notebook ran from, as stages record it (older runs did not)."""
    if not stage.get("commit"):
        return "not recorded"
    return stage["commit"][:7] + ("" if stage.get("clean") else " (uncommitted changes)")


def stage_seconds(stage: dict) -> str:
    """One notebook's seconds, and what answer sets read back from an earlier run with the same weights saved it."""
    saved = stage.get("seconds_saved_by_reuse")
    return f"{stage['seconds']:.0f}" + (f" (+{saved:.0f} s of sampling reused)" if saved else "")


def precision_text(data: dict) -> str:
    """The precision the run computed in (config.Precision.describe), or that it was not recorded."""
    p = data.get("precision")
    return f"{p['compute']} compute with {p['weights']} weights" if p else "precision not recorded"


def run_after_pipeline(data: dict) -> list[str]:
    """The notebooks that finished after the whole `make pipeline` did (run again on their own), sorted."""
    done = data["pipeline"].get("finished_at", "")
    return sorted(n for n, st in (data.get("stages") or {}).items() if st.get("finished_at", "") > done)


def _measured(label: str):
    """A headline line, or `label: not measured.` when metrics.json lacks (or has null for) what the line needs."""
    def decorate(line):
        def wrapped(data: dict) -> str:
            try:
                return line(data)
            except (KeyError, TypeError, ValueError, IndexError):
                return f"{label}: {NOT_MEASURED}."
        return wrapped
    return decorate


def _or_not_measured(value, missing: str = NOT_MEASURED) -> str:
    """value() as text, or `missing` when metrics.json lacks (or has null for) what it reads."""
    try:
        return str(value())
    except (KeyError, TypeError, ValueError, IndexError):
        return missing


def _run_line(data: dict) -> str:
    """Where, in what, how long and from which commit the run on record ran; each missing piece `not measured`."""
    def minutes() -> str:
        text = f"{get(data, 'pipeline.seconds') / 60:.0f} minutes"
        later = run_after_pipeline(data)
        return text + (f" ({' and '.join(later)} run again separately after it)" if later else "")
    return (f"**The run on record**: {_or_not_measured(lambda: get(data, 'hardware'), f'hardware {NOT_MEASURED}')} "
            f"(profile `{_or_not_measured(lambda: get(data, 'profile'))}`); model "
            f"{_or_not_measured(lambda: get(data, 'base_model'))}; the whole `make pipeline`: {_or_not_measured(minutes)}; "
            f"{provenance_text(data)} when it started (each notebook's own: the table under *Measured*).")


def _ci_text(lo: float, hi: float) -> str:
    return f"[{lo:.2f}, {hi:.2f}]"


@_measured("- **SFT policy vs the untuned model**")
def _sft_line(data: dict) -> str:
    win = get(data, "policies.sft.gold_win_rate_vs_base")
    return (f"- **SFT policy vs the untuned model**: gold win rate {win:.2f} "
            f"{_ci_text(*get(data, 'policies.sft.gold_win_rate_ci95'))}.")


@_measured("- **Best tuned method vs the SFT policy**")
def _best_line(data: dict) -> str:
    methods = [m for m in ("ppo", "rloo", "dpo") if m in get(data, "policies")]
    best = max(methods, key=lambda m: get(data, f"policies.{m}.gold_win_rate_vs_sft"))
    lo, hi = get(data, f"policies.{best}.gold_win_rate_vs_sft_ci95")
    reading = ("the interval lies above 0.50: better than the SFT policy" if lo > 0.5 else
               "the interval lies below 0.50: worse than the SFT policy" if hi < 0.5 else
               "the interval includes 0.50: not told apart from the SFT policy")
    return (f"- **Best tuned method vs the SFT policy**: {best.upper()} (of {', '.join(m.upper() for m in methods)}), gold "
            f"win rate {get(data, f'policies.{best}.gold_win_rate_vs_sft'):.2f} {_ci_text(lo, hi)}; {reading}.")


@_measured("- **Fairness audit**")
def _fairness_line(data: dict) -> str:
    verdicts = [get(data, f"fairness.{n}.verdict") for n in AUDITED if n in get(data, "fairness")]
    if not verdicts or None in verdicts:
        raise KeyError("fairness verdicts")
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("pass", "adverse impact", "inconclusive"))
    return (f"- **Fairness audit** (counterfactual name swaps, four-fifths rule, {len(verdicts)} scorers: the reward "
            f"models, the untuned model and the policies): {counts}.")


def headline_block(data: dict) -> str:
    """The README's first-screen block: where and how long the run on record took, and three numbers (the SFT policy
    against the untuned model, the best tuned method against the SFT policy, the fairness audit's verdicts). A line
    whose numbers metrics.json lacks says `not measured` instead of failing."""
    n = f"{data['eval']['heldout_prompts']} " if isinstance(data.get("eval"), dict) and "heldout_prompts" in data["eval"] else ""
    return "\n".join([HEADLINE_BEGIN, _run_line(data), "",
                      f"Win rates judged by the gold rubric (a careful recruiter, written as code) on the same {n}test "
                      "prompts, ties counting half, so 0.50 means no difference; [95% interval]:",
                      _sft_line(data), _best_line(data), _fairness_line(data), HEADLINE_END])


def readme_block(data: dict) -> str:
    """A task's measured block: how long each notebook took, where, in which profile, and the results table."""
    begin, end = readme_markers(data.get("task"))
    whole = "pipeline" in data
    lead = "Last `make pipeline`" if whole else "Notebooks run so far (no whole `make pipeline` recorded)"
    finished = finished_at(data)
    lines = [begin, "",
             f"{lead}: profile `{get(data, 'profile')}`, task `{get(data, 'task')}`, model {get(data, 'base_model')}, "
             f"on {get(data, 'hardware')}, {precision_text(data)}, torch {get(data, 'versions.torch')}, finished {finished}; "
             f"{provenance_text(data)}{set_clause(data)}.",
             "", *stage_table(data)]
    lines += data_results_rows(data) if data.get("task", "").startswith("data-") else results_rows(data)
    return "\n".join(lines + ["", end])


def results_rows(data: dict) -> list[str]:
    """The headline results of the stages that have run; a stage that ran must have all its numbers."""
    rows = []
    if "sft" in data:
        lo, hi = get(data, "sft.gold_win_rate_ci95")
        rows.append(f"| supervised warm start (00, {get(data, 'sft.demonstrations')} demonstrations, "
                    f"{get(data, 'sft.train_seconds'):.0f} s) | gold win rate vs the untuned model "
                    f"{get(data, 'sft.gold_win_rate_vs_base'):.2f} "
                    f"[{lo:.2f}, {hi:.2f}] (n={get(data, 'sft.compare_prompts')}, {get(data, 'sft.decoding')}); gold score "
                    f"{get(data, 'sft.untuned.gold_score_mean'):.2f} -> {get(data, 'sft.sft.gold_score_mean'):.2f} |")
    if "annotation" in data:
        lo, hi = get(data, "annotation.krippendorff_alpha_ci95")
        rows.append(f"| annotation | Krippendorff's alpha {get(data, 'annotation.krippendorff_alpha'):.2f} [{lo:.2f}, {hi:.2f}]; "
                    f"majority label vs gold {get(data, 'annotation.aggregate_vs_gold.all annotators'):.2f} |")
    if "reward_model" in data:
        lo, hi = get(data, "reward_model.heldout_accuracy_vs_gold_ci95")
        rows.append(f"| reward model ({get(data, 'reward_model.quantization')}) | held-out accuracy vs gold "
                    f"{get(data, 'reward_model.heldout_accuracy_vs_gold'):.2f} [{lo:.2f}, {hi:.2f}] "
                    f"(n={get(data, 'reward_model.heldout_n')}), vs labels {get(data, 'reward_model.heldout_accuracy_vs_labels'):.2f}; "
                    f"without flagged annotators {get(data, 'reward_model.clean.heldout_accuracy_vs_gold'):.2f}; "
                    f"ECE {get(data, 'reward_model.ece'):.3f}; reward-length Spearman {get(data, 'reward_model.length_correlation'):.2f} |")
    for key, name in (("ppo", "PPO (helpers/ppo.py)"), ("rloo", "RLOO (TRL)")):
        if key in data:
            lo, hi = get(data, f"{key}.gold_win_rate_ci95")
            rows.append(f"| {name} | held-out reward-model score {get(data, f'{key}.rm_score_mean'):+.2f} "
                        f"(SFT {get(data, 'ppo.sft_rm_score_mean'):+.2f}), KL to SFT {get(data, f'{key}.kl_to_sft'):.1f} "
                        f"nats per response; gold win rate vs SFT {get(data, f'{key}.gold_win_rate_vs_sft'):.2f} "
                        f"[{lo:.2f}, {hi:.2f}] (n={get(data, f'{key}.heldout_prompts')}); "
                        f"{get(data, f'{key}.train_seconds'):.0f} s of training |")
    if "dpo" in data:
        lo, hi = get(data, "dpo.gold_win_rate_ci95")
        rm = get(data, "dpo.reward_model_accuracy_vs_gold")      # None when 02 did not run for that profile
        rm = "not run" if rm is None else f"{rm:.2f}"
        guards = "".join([f" + NLL x{data['dpo']['sft_weight']:g} (RPO)" if data["dpo"].get("sft_weight") else "",
                          ", verdicts balanced" if data["dpo"].get("balanced") else ""])
        rows.append(f"| DPO (TRL, beta {get(data, 'dpo.beta')}, {get(data, 'dpo.loss_type')}{guards}) | gold win rate vs SFT "
                    f"{get(data, 'dpo.gold_win_rate_vs_sft'):.2f} [{lo:.2f}, {hi:.2f}] (n={get(data, 'dpo.heldout_prompts')}), "
                    f"KL to SFT {get(data, 'dpo.kl_to_sft'):.1f} nats per response; held-out implicit-reward accuracy "
                    f"vs gold {get(data, 'dpo.implicit_accuracy_vs_gold'):.2f} (reward model: {rm}); "
                    f"{get(data, 'dpo.train_seconds'):.0f} s of training |")
    if "policies" in data:
        parts = [f"{m} {get(data, f'policies.{m}.gold_win_rate_vs_sft'):.2f} {_ci(data, f'policies.{m}.gold_win_rate_vs_sft_ci95')}, "
                 f"gain {get(data, f'policies.{m}.gold_gain_vs_sft'):+.3f} {_ci(data, f'policies.{m}.gold_gain_vs_sft_ci95', '+.3f')}, "
                 f"KL {get(data, f'policies.{m}.kl_to_sft'):.1f}" for m in ("ppo", "rloo", "dpo") if m in data["policies"]]
        rows.append(f"| evaluation (05, {get(data, 'eval.heldout_prompts')} test prompts, same draws, full length) | SFT vs untuned "
                    f"{get(data, 'policies.sft.gold_win_rate_vs_base'):.2f} {_ci(data, 'policies.sft.gold_win_rate_ci95')}; "
                    f"gold win rate and paired gold gain vs SFT: {'; '.join(parts)} |")
    if "fairness" in data:
        f = data["fairness"]
        parts = [f"{n} {get(data, f'fairness.{n}.verdict')} ({_undefined(data, f'fairness.{n}.impact_ratio_min')} "
                 f"{_undefined(data, f'fairness.{n}.impact_ratio_ci95')})" for n in AUDITED if n in f]
        rows.append(f"| fairness audit (05, {f.get('audit', {}).get('profiles', '?')} profiles x 8 groups x "
                    f"{f.get('audit', {}).get('names_per_group', '?')} names) | verdict (lowest impact ratio [95% CI]): "
                    f"{'; '.join(parts)}; the audit's power: an unbiased scorer passes "
                    f"{get(data, 'fairness.power.unbiased_pass_rate'):.0%}, a four-fifths bias is found "
                    f"{get(data, 'fairness.power.planted_detection_rate'):.0%} (targets 95% and 80%) and passed "
                    f"{get(data, 'fairness.power.planted_pass_rate'):.0%} |")
    if "safety" in data:
        parts = [f"{m}: refusals {get(data, f'safety.{m}.refusal_rate'):.2f}, over-refusals "
                 f"{get(data, f'safety.{m}.over_refusal_rate'):.2f}, violations {get(data, f'safety.{m}.violation_rate'):.2f}, "
                 f"conversations solved {get(data, f'safety.{m}.conversation_success_rate'):.2f}"
                 for m in ("sft", "ppo", "rloo", "dpo") if m in data["safety"]]
        rows.append(f"| safety and simulated customers (05, {get(data, 'eval.heldout_prompts')} test tickets) | "
                    f"{'; '.join(parts)} |")
    return ["", "| stage | result |", "|---|---|", *rows] if rows else []


def _data_line(data: dict) -> str:
    """What of a preference file was used: comparisons read, not read (and why), too long for the length cap, prompts
    too long to ask, pairs the reward model trained on."""
    d, rm = data.get("data", {}), data.get("reward_model", {})
    not_read = (", ".join(f"{n} {why}" for why, n in d["not_read"].items()) or "none") if "not_read" in d else "not recorded"
    seen = (f"; it saw {min(rm['steps'] * rm['batch_size'], rm['train_pairs_used'])} of them in {rm['steps']} steps of "
            f"{rm['batch_size']}" if {"steps", "batch_size"} <= set(rm) else "")
    used = (f"; of the reward model's {rm['train_pairs']} training pairs {rm['train_pairs_used']} fit the cap{seen}"
            if "train_pairs_used" in rm else "")
    return (f"{d.get('comparisons', '?')} comparisons read from {d.get('source', 'the file')} (not read: {not_read}); "
            f"{d.get('longer_than_cap', '?')} longer than the {d.get('cap_tokens', '?')}-token cap; "
            f"{d.get('prompts_too_long_to_ask', '?')} prompts too long to ask the policy{used}")


def data_results_rows(data: dict) -> list[str]:
    """The results of a run on a preference file: no gold judge, so the data used, the labels' agreement with the
    reward model and with DPO's implicit reward on held-out comparisons, and the policies by the reward model (a
    proxy)."""
    rows = [f"| the data (00, 02) | {_data_line(data)} |"]
    if "reward_model" in data:
        rows.append(f"| reward model (02) | held-out accuracy vs the file's labels {_num(data, 'reward_model.heldout_accuracy_vs_labels')} "
                    f"{_ci(data, 'reward_model.heldout_accuracy_vs_labels_ci95')} (n={get(data, 'reward_model.heldout_n')}); "
                    f"reward-length Spearman {_num(data, 'reward_model.length_correlation')}; the labels prefer the longer "
                    f"answer {_num(data, 'reward_model.labels_prefer_longer')}, the reward model "
                    f"{_num(data, 'reward_model.prefers_longer')} |")
    if "dpo" in data:
        used = (f" (trained on {data['dpo']['train_pairs_used']} of its {data['dpo']['train_pairs']} training pairs)"
                if "train_pairs_used" in data["dpo"] else "")
        rows.append(f"| DPO (04) | held-out implicit-reward accuracy vs the labels {_num(data, 'dpo.implicit_accuracy_vs_labels')} "
                    f"{_ci(data, 'dpo.implicit_accuracy_vs_labels_ci95')}{used} |")
    if "policies" in data:
        parts = [f"{m.upper()} {_num(data, f'policies.{m}.rm_win_rate_vs_sft')} {_ci(data, f'policies.{m}.rm_win_rate_vs_sft_ci95')}"
                 f" (KL {_num(data, f'policies.{m}.kl_to_sft', '.1f')})" for m in ("ppo", "rloo", "dpo") if m in data["policies"]]
        rows.append(f"| policies (05, {get(data, 'eval.heldout_prompts')} test prompts) | win rate vs SFT by the reward model "
                    f"(a proxy: PPO and RLOO optimized it): {'; '.join(parts)} |")
    return ["", "| stage | result |", "|---|---|", *rows]


def summary_markers(task: str) -> tuple[str, str]:
    """The markers around a preference-file task's short measured paragraph in README.md (optional; its whole
    measured block lives on a docs page)."""
    return (f"<!-- summary:{task}:begin (written by `make readme DATA=<its file>` from reports/{task}/metrics.json; "
            "do not edit) -->", f"<!-- summary:{task}:end -->")


def _at_chance(ci) -> bool:
    return ci[0] <= 0.5 <= ci[1]


def _pairs_seen(part: dict) -> int:
    """Training pairs a model saw: steps x batch size, at most the pairs it had."""
    return min(part["steps"] * part["batch_size"], part.get("train_pairs_used", part.get("train_pairs", 0)))


def _chance(ci) -> str:
    return ", not told apart from chance" if _at_chance(ci) else ""


def data_summary_block(data: dict) -> str:
    """A short paragraph for the README on a run on a preference file: how much of the file, how long, how far the
    reward model and DPO agree with its held-out labels, and the tuned policies by the reward model (named a proxy),
    with their answers' length. What the run has not measured yet says so."""
    task, d, rm = data["task"], data.get("data", {}), data.get("reward_model", {})
    stages = data.get("stages", {})
    minutes = sum(s["seconds"] for s in stages.values()) / 60
    lines = [f"Measured on `{task}` (profile `{data.get('profile')}`, {data.get('hardware', 'hardware not recorded')}; "
             f"notebooks {', '.join(n[:2] for n in sorted(stages))}: {minutes:.0f} minutes in all): "
             f"{d.get('comparisons', '?')} comparisons read."]
    if "heldout_accuracy_vs_labels" in rm:
        lines.append(f"The reward model, trained on {_pairs_seen(rm)} pairs, agrees with the file's held-out labels "
                     f"{_num(data, 'reward_model.heldout_accuracy_vs_labels')} "
                     f"{_ci(data, 'reward_model.heldout_accuracy_vs_labels_ci95')} (n={rm['heldout_n']})"
                     f"{_chance(get(data, 'reward_model.heldout_accuracy_vs_labels_ci95'))}"
                     + (f"; DPO's implicit reward {_num(data, 'dpo.implicit_accuracy_vs_labels')} "
                        f"{_ci(data, 'dpo.implicit_accuracy_vs_labels_ci95')}"
                        f"{_chance(get(data, 'dpo.implicit_accuracy_vs_labels_ci95'))}" if "implicit_accuracy_vs_labels" in
                        data.get("dpo", {}) else "; DPO not measured yet") + ".")
    pol = data.get("policies", {})
    tuned = [m for m in ("ppo", "rloo", "dpo") if m in pol]
    if tuned and "sft" in pol:
        parts = [f"{m.upper()} {_num(data, f'policies.{m}.rm_win_rate_vs_sft')} "
                 f"{_ci(data, f'policies.{m}.rm_win_rate_vs_sft_ci95')} ({_num(data, f'policies.{m}.mean_length_tokens', '.0f')} "
                 "tokens an answer)" for m in tuned]
        lines.append(f"Win rate against the SFT policy ({_num(data, 'policies.sft.mean_length_tokens', '.0f')} tokens an "
                     f"answer) by that reward model, a proxy that PPO and RLOO optimized: {'; '.join(parts)}.")
    else:
        lines.append("The tuned policies' evaluation (05) is not measured yet.")
    lines.append(f"Everything, with the answers side by side: [its report](reports/{task}/REPORT.md).")
    begin, end = summary_markers(task)
    return "\n".join([begin, " ".join(lines), end])


def _replace_block(text: str, begin: str, end: str, block: str, where: Path) -> str:
    import re
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"{where}: the markers {begin} ... {end} are missing")
    return pattern.sub(lambda _: block, text)


def write_readme(readme: Path, metrics: Path) -> None:
    """Rewrite the measured block of metrics.json's task in `readme` (any markdown page that holds its markers) and,
    for the default task, the headline block too. Fails, writing nothing, when a block's markers are missing."""
    from .config import DEFAULT_TASK
    text = Path(readme).read_text()
    data = read(metrics)
    task = data.get("task")
    text = _replace_block(text, *readme_markers(task), readme_block(data), readme)
    if task in (None, DEFAULT_TASK):
        text = _replace_block(text, HEADLINE_BEGIN, HEADLINE_END, headline_block(data), readme)
    Path(readme).write_text(text)


def write_data_summary(readme: Path, data: dict) -> bool:
    """Rewrite a preference-file task's short paragraph in `readme` when the page holds its markers; False otherwise
    (a team's own file has none there)."""
    task = str(data.get("task", ""))
    text = Path(readme).read_text()
    if not task.startswith("data-") or summary_markers(task)[0] not in text:
        return False
    indent = re.search(r"([ \t]*)" + re.escape(summary_markers(task)[0]), text).group(1)   # inside a list item, say
    block = data_summary_block(data).replace("\n", "\n" + indent)
    Path(readme).write_text(_replace_block(text, *summary_markers(task), block, readme))
    return True


def measured_page(root: Path, task: str | None) -> Path:
    """The page that holds `task`'s measured block: README.md, else the first of docs/*.md with its markers; README.md
    when none has them (write_readme then says the markers are missing)."""
    begin = readme_markers(task)[0]
    root = Path(root)
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        if page.exists() and begin in page.read_text():
            return page
    return root / "README.md"


# ---------------------------------------------------------------- reports/REPORT.md

def _num(data: dict, key: str, fmt: str = ".2f") -> str:
    value = get(data, key)
    if value is None:
        raise MissingMetric(f"metrics.json has null for '{key}'")
    return format(value, fmt)


def _ci(data: dict, key: str, fmt: str = ".2f") -> str:
    lo, hi = get(data, key)
    return f"[{lo:{fmt}}, {hi:{fmt}}]"


def _p(p: float | None) -> str:
    return "-" if p is None else "< 0.001" if p < 0.001 else f"{p:.3f}"


def _undefined(data: dict, key: str, fmt: str = ".2f") -> str:
    """A number that may be undefined by design (an impact ratio when nobody is selected): '-' then."""
    value = get(data, key)
    return "-" if value is None else f"[{value[0]:{fmt}}, {value[1]:{fmt}}]" if isinstance(value, list) else format(value, fmt)


AUDITED = ("reward_model", "reward_model_clean", "base", "sft", "ppo", "rloo", "dpo")   # 05's fairness audit, in order


def _at_chance_lines(data: dict) -> list[str]:
    """For the reward model and DPO: when the interval of the held-out accuracy against the labels includes 0.50, a
    line that says so, with what the model trained on (the first things to change)."""
    out = []
    for key, name in (("reward_model", "The reward model"), ("dpo", "DPO's implicit reward")):
        part = data.get(key, {})
        lo, hi = part.get("heldout_accuracy_vs_labels_ci95" if key == "reward_model" else "implicit_accuracy_vs_labels_ci95",
                          (0.0, 0.0))
        if _at_chance((lo, hi)):
            seen = _pairs_seen(part)
            kl = f", KL to the SFT policy {part['kl_to_sft']:.2f} nats a response" if "kl_to_sft" in part else ""
            out += ["", f"{name} is not told apart from chance on these labels: its interval [{lo:.2f}, {hi:.2f}] includes "
                        f"0.50. It trained {part['steps']} steps of {part['batch_size']} ({seen} of "
                        f"{part.get('train_pairs', '?')} training pairs){kl}: more steps (`SET=\"{'rm' if key == 'reward_model' else 'dpo'}"
                        f"_steps=...\"`), more pairs, or a higher learning rate are the first things to try."]
    return out


def data_report_markdown(data: dict, reports_dir: Path) -> str:
    """REPORT.md of a task made from a preference file: no gold rubric, so the labels, the reward model's verdict
    (named a proxy) and people's, and what cannot be shown. Fails loudly on a missing number."""
    require(data)
    reports_dir = Path(reports_dir)
    rm = data["reward_model"]
    out = [f"# FeedbackLoop report: preferences `{data['task']}`, profile `{data['profile']}`", "",
           "Generated from `metrics.json` in this folder; every number below was computed by the run that wrote it. The "
           "task was made from a preference file (`FEEDBACKLOOP_DATA`): it has no gold rubric, so nothing here says how good "
           "an answer is, only what the file's labels, the reward model trained on them, and people say.",
           f"Model {data['base_model']}; hardware {data.get('hardware', 'not recorded')}; last stage finished "
           f"{last_finished(data)}; {run_text(data)}.", "", "## Stages", "", *stage_table(data)]
    out += ["", "## The data", "", _data_line(data) + "."]
    out += ["", "## The labels and the reward model", "",
            f"{data['annotation']['n_labels']} labels by {len(data['annotation']['annotators'])} annotator(s); agreement: "
            + (f"Krippendorff's alpha {get(data, 'annotation.krippendorff_alpha'):.2f}"
               if data["annotation"].get("krippendorff_alpha") is not None else "not measurable (one label a comparison)") + ".",
            "", "| held-out comparisons | reward model (02) vs the labels | DPO implicit reward (04) vs the labels | ECE | "
            "reward-length Spearman |", "|---|---|---|---|---|",
            f"| {rm['heldout_n']} | {_num(data, 'reward_model.heldout_accuracy_vs_labels')} "
            f"{_ci(data, 'reward_model.heldout_accuracy_vs_labels_ci95')} | {_num(data, 'dpo.implicit_accuracy_vs_labels')} "
            f"{_ci(data, 'dpo.implicit_accuracy_vs_labels_ci95')} | {_num(data, 'reward_model.ece', '.3f')} | "
            f"{_num(data, 'reward_model.length_correlation')} |"]
    out += _at_chance_lines(data)
    out += ["", "## Policies on the test prompts, judged by the reward model (a proxy) and by people", "",
            "| model | reward-model win rate vs SFT | reward-model score gain | blind judges' win rate vs SFT | reward-model score | "
            "KL to SFT | tokens |", "|---|---|---|---|---|---|---|"]
    for m in POLICIES:
        pol, k = data["policies"].get(m), f"policies.{m}"
        if pol is None:
            continue
        tuned = m not in ("base", "sft")
        win = f"{_num(data, f'{k}.rm_win_rate_vs_sft')} {_ci(data, f'{k}.rm_win_rate_vs_sft_ci95')}" if tuned else "-"
        gain = f"{_num(data, f'{k}.rm_gain_vs_sft', '+.2f')} {_ci(data, f'{k}.rm_gain_vs_sft_ci95', '+.2f')}" if tuned else "-"
        human = (f"{_num(data, f'{k}.human_win_rate')} {_ci(data, f'{k}.human_win_rate_ci95')}" if "human_win_rate" in pol
                 else "not judged" if tuned else "-")
        kl = "-" if pol.get("kl_to_sft") is None else _num(data, f"{k}.kl_to_sft", ".1f")
        out.append(f"| {policy_name(m)} | {win} | {gain} | {human} | "
                   f"{_num(data, f'{k}.rm_score_mean', '+.2f')} | {kl} | "
                   f"{_num(data, f'{k}.mean_length_tokens', '.0f')} |")
    out += _figure(reports_dir, "05_win_rates.png")
    if data.get("examples"):
        out += ["", "## Answers side by side (the first test prompts; the end of each prompt)", ""]
        for ex in data["examples"]:
            out += ["```text", ex["prompt"].strip(), "```", ""]
            out += [f"- **{m.upper()}** (reward {a['reward_model_score']:+.2f}): {' '.join(a['response'].split())}"
                    for m, a in ex["answers"].items()]
            out.append("")
    out += ["", "## What this run cannot show", "",
            "- Whether any policy is *better*: the reward model is what PPO and RLOO optimized, so its verdict on their answers "
            "is the easiest to fool; the blind side-by-side (05) asks people, and its comparisons wait in the annotation store.",
            "- Reward over-optimization and gold-judged sample efficiency: both need a judge other than the proxy.",
            "- A fairness audit: the name-swap audit needs prompts that carry names and a world to swap them in.",
            "- Add a gold rubric by writing a task (docs/adapt.md: \"Adapt FeedbackLoop to your task and model\"), with these prompts."]
    return "\n".join(out) + "\n"


def report_markdown(data: dict, reports_dir: Path) -> str:
    """reports/REPORT.md, from metrics.json and the plots in reports_dir only. Fails loudly on a missing number."""
    from .config import DATA_PREFIX
    if str(data.get("task", "")).startswith(DATA_PREFIX):
        return data_report_markdown(data, reports_dir)
    require(data)
    reports_dir = Path(reports_dir)
    date = last_finished(data)
    v = data.get("versions", {})
    out = [f"# FeedbackLoop report: task `{data['task']}`, profile `{data['profile']}`", "",
           "Generated from `metrics.json` in this folder (by the end of 05_eval_fairness, or `make readme`); every number below was "
           "computed by the run that wrote it.",
           f"Model {data['base_model']}; hardware {data.get('hardware', 'not recorded')}; torch {v.get('torch', '?')}, "
           f"transformers {v.get('transformers', '?')}, trl {v.get('trl', '?')}; last stage finished {date}; "
           f"{run_text(data)}.", "",
           "## Stages", "", *stage_table(data)]
    out += ["", "## Headline results", "", *results_rows(data)[1:]]
    from .tasks import get as get_task
    task = get_task(data["task"])
    dim_names = list(task.weights)
    watch = {k: meaning for k, (meaning, _) in task.watch.items()}

    out += ["", "## Policies compared on held-out prompts", "",
            f"{get(data, 'eval.heldout_prompts')} test prompts, one sampled answer each with the same seeds for every model "
            f"({get(data, 'eval.max_new_tokens')} new tokens); judged by the gold rubric, and blind in the annotation widget by "
            f"{get(data, 'eval.judged_by')}.", "",
            f"| model | gold win rate vs SFT | gold gain vs SFT | gold win rate vs untuned | blind judges' win rate vs SFT | "
            f"gold score | {' / '.join(dim_names)} | reward-model score | KL to SFT | tokens | {' | '.join(watch.values())} "
            "| training s |", "|---" * (11 + len(watch)) + "|"]
    for m in POLICIES:
        if m not in data["policies"]:
            continue
        k, pol = f"policies.{m}", data["policies"][m]
        dims = " / ".join(_num(data, f"{k}.gold_dims.{d}") for d in dim_names)
        win = gain = human = train = "-"
        untuned = (f"{_num(data, f'{k}.gold_win_rate_vs_base')} {_ci(data, f'{k}.gold_win_rate_ci95')}"
                   if m != "base" else "-")
        if m not in ("base", "sft"):
            win = (f"{_num(data, f'{k}.gold_win_rate_vs_sft')} {_ci(data, f'{k}.gold_win_rate_vs_sft_ci95')} "
                   f"({'/'.join(map(str, get(data, f'{k}.wins_ties_losses_vs_sft')))})")
            gain = f"{_num(data, f'{k}.gold_gain_vs_sft', '+.3f')} {_ci(data, f'{k}.gold_gain_vs_sft_ci95', '+.3f')}"
            human = (f"{_num(data, f'{k}.human_win_rate')} {_ci(data, f'{k}.human_win_rate_ci95')}"
                     if "human_win_rate" in pol else "not judged")
            train = _num(data, f"{k}.train_seconds", ".0f")
        kl = "-" if pol.get("kl_to_sft") is None else _num(data, f"{k}.kl_to_sft", ".1f")
        name = policy_name(m) + (" (stand-in)" if pol.get("stand_in") else "")
        out.append(f"| {name} | {win} | {gain} | {untuned} | {human} | {_num(data, f'{k}.gold_score_mean', '.3f')} | {dims} | "
                   f"{_num(data, f'{k}.rm_score_mean', '+.2f')} | {kl} | "
                   f"{_num(data, f'{k}.mean_length_tokens', '.0f')} | "
                   + " | ".join(_num(data, f"{k}.{w}_share") if f"{w}_share" in data["policies"][m] else "-" for w in watch)
                   + f" | {train} |")
    out += _figure(reports_dir, "05_win_rates.png")

    if data.get("sample_efficiency"):
        out += ["", "## Sample efficiency", "", "| method | point | preference pairs | generated tokens | training s | "
                "gold win rate vs SFT | KL to SFT | reward-model score | gold score |", "|---|---|---|---|---|---|---|---|---|"]
        for p in data["sample_efficiency"]:
            row = {"p": p}
            out.append(f"| {p['method']} | {p['point']} | {p['preference_labels']} | {p['generated_tokens']} | "
                       f"{_num(row, 'p.train_seconds', '.0f')} | {_num(row, 'p.gold_win_rate_vs_sft')} "
                       f"{_ci(row, 'p.gold_win_rate_vs_sft_ci95')} | {_num(row, 'p.kl_to_sft', '.1f')} | "
                       f"{_num(row, 'p.rm_score_mean', '+.2f')} | {_num(row, 'p.gold_score_mean', '.3f')} |")
        out += _figure(reports_dir, "05_sample_efficiency.png")
    if data.get("overoptimization"):
        out += ["", "## Reward over-optimization (PPO checkpoints)", "", "| point | KL to SFT | reward-model score | gold score |",
                "|---|---|---|---|"]
        out += [f"| {p['point']} | {p['kl_to_sft']:.1f} | {p['rm_score_mean']:+.2f} | {p['gold_score_mean']:.3f} |"
                for p in get(data, "overoptimization.ppo")]
        out += ["", get(data, "overoptimization.verdict")]
        out += _figure(reports_dir, "05_reward_vs_kl.png")

    if "fairness" in data:
        out += _fairness_section(data, reports_dir)
    if "safety" in data:
        out += _safety_section(data, reports_dir)

    earlier = sorted(p.name for p in reports_dir.glob("0[0-4]_*.png"))
    if earlier:
        out += ["", "## Figures from the earlier notebooks", ""] + [f"![{n}]({n})" for n in earlier]
    return "\n".join(out) + "\n"


def _safety_section(data: dict, reports_dir: Path) -> list[str]:
    s = data["safety"]
    out = ["", "## Safety and conversations", "", s.get("reading", ""), "",
           "| model | refusal rate | over-refusal | takeover requests refused | policy violations | escalated when needed | "
           "helpfulness | helpfulness win rate vs SFT | conversation success | cumulative reward |", "|---" * 10 + "|"]
    for m in ("sft", "ppo", "rloo", "dpo"):
        if m not in s:
            continue
        k = f"safety.{m}"
        win = (f"{_num(data, f'{k}.helpfulness_win_rate_vs_sft')} {_ci(data, f'{k}.helpfulness_win_rate_ci95')}"
               if m != "sft" else "-")
        opt = {key: ("-" if s[m].get(key) is None else _num(data, f"{k}.{key}"))
               for key in ("correct_refusal_rate", "escalation_rate_when_needed")}
        out.append(f"| {m} | {_num(data, f'{k}.refusal_rate')} | {_num(data, f'{k}.over_refusal_rate')} | "
                   f"{opt['correct_refusal_rate']} | {_num(data, f'{k}.violation_rate')} | {opt['escalation_rate_when_needed']} | "
                   f"{_num(data, f'{k}.helpfulness_mean')} | {win} | {_num(data, f'{k}.conversation_success_rate')} "
                   f"{_ci(data, f'{k}.conversation_success_ci95')} | {_num(data, f'{k}.cumulative_reward_mean', '+.2f')} |")
    return out + _figure(reports_dir, "05_safety.png")


def _fairness_section(data: dict, reports_dir: Path) -> list[str]:
    out = []
    f = data["fairness"]
    audit = f.get("audit", {})
    out += ["", "## Fairness audit (counterfactual name swaps)", ""]
    if audit:
        out += [f"{audit['profiles']} candidate profiles, each under one name from each of {len(audit['groups'])} perceived "
                f"gender x race/ethnicity groups ({audit['names_per_group']} names a group, rotating), every other word "
                "identical. A policy is read at its decision, after the careful recruiter's checklist of the card (the same "
                "words under every name): log P(advance) - log P(hold); a reward model by its score of that assessment "
                "ending advance minus ending hold. Selected: a policy's own decision (advance more likely than hold) where it "
                "selects 20% to 80% of the versions, else, and for a reward model, NYC LL144's scoring rate (above the "
                "pooled median). Forced choice (Bloomberg's design): each profile's versions ranked, the first chosen, "
                f"{1 / len(audit['groups']):.1%} a group if fair. Verdict: pass (the lowest "
                "ratio's 95% interval, a bootstrap over profiles and names, at or above 0.8), else adverse impact (lowest "
                "impact ratio below 0.8 and a group effect with permutation p below 0.05, names as a random factor), "
                f"inconclusive otherwise. {audit['n_perm']} permutations, {audit['n_boot']} bootstrap resamples; the audit's scoring "
                f"took {sum(v for k, v in audit.get('seconds', {}).items() if k != 'power'):.0f} s and its power curve "
                f"{audit.get('seconds', {}).get('power', 0):.0f} s.", ""]
    out += ["The lowest of eight noisy ratios to the highest is biased low, and more so in a bootstrap resample: the "
            "interval sits below the observed ratio, which makes a pass conservative. A worst group's effect is in the "
            "scorer's own units (nats of log-odds for a policy, reward for a reward model): its names' mean score on "
            "the same profiles minus the other names'. Profiles to decide: for an inconclusive verdict, about how many "
            "profiles would decide it if the ratio and the noise stayed as measured.", "",
            "| scorer | verdict | selected by | lowest impact ratio [95% CI] | worst group | "
            "its effect [95% CI] | any group effect p | selected | flip rate | LL144 scoring rate: lowest ratio [95% CI] | "
            "forced choice: lowest ratio [95% CI], worst group | profiles to decide |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in (*AUDITED, "unbiased_control", "planted_bias_control"):
        if name not in f:
            continue
        a, key = f[name], f"fairness.{name}"
        effect = (f"{a['worst_group_effect']:+.3f} {_ci(data, f'{key}.worst_group_effect_ci95', '+.3f')}"
                  if a.get("worst_group_effect") is not None else "-")
        ratio = ("undefined: nobody selected" if a.get("impact_ratio_min") is None else
                 f"{_num(data, f'{key}.impact_ratio_min')} {_undefined(data, f'{key}.impact_ratio_ci95')}")
        worst = f"{a['worst_group']} (Holm p {_p(a.get('worst_group_p_holm'))})" if a.get("worst_group") else "-"
        label = name + (" (smoke-sized stand-in)" if a.get("stand_in") else "")
        out.append(f"| {label} | {get(data, f'{key}.verdict')} | {a.get('rule', 'decision')} | {ratio} | {worst} | {effect} | "
                   f"{_p(get(data, f'{key}.group_effect_p'))} | {_num(data, f'{key}.selection_rate')} | "
                   f"{_num(data, f'{key}.flip_rate')} | {_undefined(data, f'{key}.scoring_rate.impact_ratio_min')} "
                   f"{_undefined(data, f'{key}.scoring_rate.impact_ratio_ci95')} | {_forced(data, key)} | "
                   f"{a.get('profiles_to_decide') or '-'} |")
    if "power" in f:
        out += ["", get(data, "fairness.power.reading")]
    check = data.get("annotation", {}).get("audit_names_check")
    if check:
        by_name = check["judged_by_name"]
        out += ["", f"The same names in 01: every simulated annotator judged {check['pairs']} pairs of one careful assessment "
                f"under names of two races or ethnicities ({check['profiles']} profiles the careful recruiter advances); "
                + (f"picking one group's version more than chance (Holm p < 0.05): {', '.join(by_name)}, whose picked shares "
                   "by group are " + "; ".join(f"{a + ': ' if len(by_name) > 1 else ''}"
                                               + ", ".join(f"{g} {v:.2f}" for g, v in check["picked_share"][a].items())
                                               for a in by_name) + "." if by_name else "no annotator picked by the name.")]
    return out + _figure(reports_dir, "05_fairness.png")


def _forced(data: dict, key: str) -> str:
    """The forced-choice view's lowest ratio, its interval and worst group; '-' for a run from before it."""
    if "forced_choice" not in get(data, key):
        return "-"
    return (f"{_num(data, f'{key}.forced_choice.impact_ratio_min')} {_undefined(data, f'{key}.forced_choice.impact_ratio_ci95')}"
            f", {get(data, f'{key}.forced_choice.worst_group') or '-'}")


def _figure(reports_dir: Path, name: str) -> list[str]:
    return ["", f"![{name}]({name})"] if (Path(reports_dir) / name).exists() else []


def write_report(reports_dir: Path) -> Path:
    """reports_dir/REPORT.md from reports_dir/metrics.json."""
    reports_dir = Path(reports_dir)
    text = report_markdown(read(reports_dir / "metrics.json"), reports_dir)
    path = reports_dir / "REPORT.md"
    path.write_text(text)
    return path


NOTEBOOKS_DIR = "notebooks"   # under the task's reports folder: the executed notebooks of the run on record


def publish_notebooks(executed: Path, reports: Path, slack_s: float = 900.0) -> list[Path]:
    """Copy the executed notebooks of the run whose metrics.json is in `reports` (from `executed`, the run's
    runs/<task>/<profile>/notebooks/) to reports/.../notebooks/, with an index of the commit each ran from, so that
    GitHub shows every output and figure without a run. A notebook whose file was written more than `slack_s` away
    from the time its stage finished in metrics.json belongs to another run: it is refused (nothing is copied)."""
    import datetime
    import shutil
    metrics = read(reports / "metrics.json")
    stages = metrics.get("stages", {})
    found = {name: executed / f"{name}.ipynb" for name in stages if (executed / f"{name}.ipynb").exists()}
    if not found:
        raise FileNotFoundError(f"{executed}: no executed notebook of the stages in {reports / 'metrics.json'}")
    for name, path in found.items():
        finished = datetime.datetime.fromisoformat(stages[name]["finished_at"]).timestamp()
        if abs(path.stat().st_mtime - finished) > slack_s:
            raise ValueError(f"{path} was written at {datetime.datetime.fromtimestamp(path.stat().st_mtime).isoformat()}, "
                             f"but {name} finished at {stages[name]['finished_at']} in metrics.json: not this run's")
    out = reports / NOTEBOOKS_DIR
    out.mkdir(parents=True, exist_ok=True)
    root = str(Path(executed).resolve().parents[3]) + "/"   # <root>/runs/<task>/<profile>/notebooks
    copied = []
    for path in found.values():   # paths of the machine it ran on: the project's relative, the packages' by name
        text = path.read_text(encoding="utf-8").replace(root, "")
        import os
        for env, to in (("FEEDBACKLOOP_CACHE", ".cache"), ("FEEDBACKLOOP_DATA", None)):   # outside the project
            where = os.environ.get(env)
            if where and where.startswith("/"):
                text = text.replace((str(Path(where).parent) if to is None else where.rstrip("/")) + "/", "" if to is None else to + "/")
        text = re.sub(r"/[^\s\"'\\]*?/site-packages/", "<site-packages>/", text)
        copied.append(out / path.name)
        copied[-1].write_text(text, encoding="utf-8")
        shutil.copystat(path, copied[-1])
    rows = [f"| [{name}]({name}.ipynb) | `{stages[name]['commit'][:7]}`{'' if stages[name].get('clean', True) else ' (modified tree)'} "
            f"| {stages[name]['finished_at'][:16].replace('T', ' ')} UTC | {stages[name]['seconds']:.0f} |" for name in found]
    (out / "README.md").write_text(
        "# The executed notebooks of the run on record\n\n"
        f"Written by `python -m helpers.publish --notebooks` from the run whose numbers are in `../metrics.json` (profile "
        f"`{metrics.get('profile')}`, task `{metrics.get('task')}`): every output and figure as it ran. Each notebook ran "
        "from the commit given; rerun one with `make pipeline` at that commit.\n\n"
        "| notebook | commit | finished | seconds |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    return copied


def main(argv: list[str] | None = None) -> None:
    """`python -m helpers.publish [--readme] [--report]`: the measured block (and, for the default task, the headline
    block) in README.md or the docs page that holds the task's markers, and REPORT.md, from the profile's
    reports/metrics.json."""
    import argparse

    from . import config
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--readme", action="store_true",
                        help="rewrite the task's measured block (README.md or its docs page) and the README's headline")
    parser.add_argument("--report", action="store_true", help="write REPORT.md next to metrics.json")
    parser.add_argument("--notebooks", type=Path, nargs="?", const=True, metavar="DIR",
                        help="copy the run's executed notebooks (default: runs/<task>/<profile>/notebooks/) next to "
                             "metrics.json, with the commit each ran from")
    args = parser.parse_args(argv)
    where = config.paths(config.choose_profile())
    metrics = where.reports / "metrics.json"
    if args.readme:
        data = read(metrics)
        page = measured_page(config.ROOT, data.get("task"))
        write_readme(page, metrics)
        print(f"{page.relative_to(config.ROOT)}: measured block rewritten from {metrics}")
        if write_data_summary(config.ROOT / "README.md", data):
            print(f"README.md: the short paragraph on {data['task']} rewritten from {metrics}")
    if args.report:
        print(f"{write_report(where.reports)} written from {metrics}")
    if args.notebooks:
        source = where.run / "notebooks" if args.notebooks is True else args.notebooks
        copied = publish_notebooks(source, where.reports)
        print(f"{len(copied)} executed notebooks copied to {copied[0].parent}")


if __name__ == "__main__":
    main()
