"""reports/metrics.json: the one machine-readable record of a run, and its contract (docs/results.md lists the keys).

Every notebook adds its part with `update`, and times itself with `Stage`: seconds from its configuration
cell to its summary, and the peak memory of its kernel (resident set on the CPU; allocated memory on a GPU).
`contract`/`require` say which keys a finished run must hold. Nothing in the file is typed by hand; publishing it
(the README's block, REPORT.md) is helpers/publish.py.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .config import choose_precision, cpu_name, profile_changes


def read(path: Path) -> dict:
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def _merge(into: dict, new: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def update(path: Path, new: dict) -> dict:
    """Deep-merge `new` into the metrics file and write it atomically; return the whole file."""
    return _write(Path(path), _merge(read(path), new))


def _write(path: Path, data: dict) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return data


def replace(path: Path, key: str, value) -> dict:
    """Set one top-level section of the metrics file whole (what an earlier run left there goes); return the file."""
    data = read(path)
    data[key] = value
    return _write(Path(path), data)


def get(data: dict, dotted: str):
    """data['a']['b'] for 'a.b'; KeyError naming the full key when missing."""
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"metrics.json has no '{dotted}'")
        node = node[part]
    return node


def peak_memory_mb() -> float:
    """Peak memory of this process so far: CPU resident set, or GPU allocation when CUDA is in use.

    On Linux this reads VmHWM from /proc: getrusage's ru_maxrss survives exec, so a child started from a large
    process (a notebook kernel running a benchmark) would report its parent's peak."""
    rss_mb = None
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss_mb = int(line.split()[1]) / 1024
    if rss_mb is None:
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss_mb = rss_kb / 1024 if sys.platform != "darwin" else rss_kb / 2**20
    try:
        import torch
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    except ImportError:
        pass
    return round(rss_mb, 1)


def hardware() -> str:
    try:
        import torch
        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (CUDA), {os.cpu_count()} CPU cores"
    except ImportError:
        pass
    return f"CPU only: {cpu_name()} ({platform.machine()}), {os.cpu_count()} cores"


_REUSED = {"seconds": 0.0}   # work this process did not redo: answer sets read back (helpers/evaluation.py)


def note_reused(seconds: float) -> None:
    """Count `seconds` of work this process skipped because an earlier run's result was read back."""
    _REUSED["seconds"] += seconds


def seconds_reused() -> float:
    """The seconds `note_reused` has counted in this process."""
    return _REUSED["seconds"]


class Stage:
    """Times one notebook: `stage = Stage("00_setup", metrics_path)` ... `stage.finish()`."""

    def __init__(self, name: str, metrics_path: Path):
        self.name, self.path, self.start = name, Path(metrics_path), time.perf_counter()
        self.reused_at_start = seconds_reused()   # answer sets read back from an earlier run make a stage look faster
        self.provenance = provenance()   # the code it runs is the code it started with: a run made in parts spans commits
        self.changes = profile_changes()   # and the profile fields SET changed for it, which may differ between parts

    def finish(self, extra: dict | None = None) -> dict:
        seconds = round(time.perf_counter() - self.start, 1)
        entry = {"seconds": seconds, "peak_mem_mb": peak_memory_mb(),
                 "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "commit": self.provenance["commit"], "clean": self.provenance["clean"]}
        if (saved := round(seconds_reused() - self.reused_at_start, 1)) > 0:
            entry["seconds_saved_by_reuse"] = saved
        entry["profile_changes"] = self.changes   # {} for none: an older record without the key says nothing
        update(self.path, {"stages": {self.name: {**entry, **(extra or {})}}})
        return entry


def start_run(metrics_path: Path, profile, task: str, base_model: str) -> dict:
    """A new run's header (profile, task, base model, seed, hardware, library versions, provenance), in a metrics
    file of its own: 00 starts every run, and a new starting policy makes every later number of an earlier run stale,
    so the earlier run's numbers are dropped, not merged with the new ones."""
    Path(metrics_path).unlink(missing_ok=True)
    import torch
    import transformers
    import trl

    header = {"profile": profile.name, **({"profile_changes": profile_changes()} if profile_changes() else {}),
              "task": task, "base_model": base_model, "seed": profile.seed,
              "hardware": hardware(), "precision": choose_precision().describe(),
              "python": platform.python_version(), "provenance": provenance(),
              "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__}}
    return update(metrics_path, header)


def provenance(root: Path | None = None) -> dict:
    """The commit a run is made from and whether the tree was clean (files under reports/, which the run itself
    writes, do not count). Outside a git checkout (a zip download, a Colab copy) both are None."""
    import subprocess

    from .config import ROOT
    root = Path(root or ROOT)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "clean": None}
    changed = [line[3:] for line in status if not line[3:].startswith("reports/")]
    return {"commit": commit, "clean": not changed, **({"changed": changed[:20]} if changed else {})}


# ---------------------------------------------------------------- the contract: what a finished run holds

class MissingMetric(KeyError):
    """One or more numbers the report needs are not in metrics.json (or are null)."""

    def __str__(self):
        return self.args[0] if self.args else "missing metric"


POLICIES = ("base", "sft", "ppo", "rloo", "dpo")   # the models every run compares, in the order tables list them


def policy_name(key: str) -> str:
    """How tables and figures name a policy key: the base model is "untuned", as the notebooks' text calls it."""
    return {"base": "untuned", "sft": "SFT"}.get(key, key)


WRITTEN_BY = {"profile": "00_setup", "task": "00_setup", "base_model": "00_setup", "seed": "00_setup", "stages": "every notebook",
              "sft": "00_setup", "provenance": "00_setup",
              "annotation": "01_annotate", "reward_model": "02_reward_model", "ppo": "03_ppo", "rloo": "03_ppo",
              "dpo": "04_dpo", "policies": "05_eval_fairness", "fairness": "05_eval_fairness", "eval": "05_eval_fairness",
              "safety": "05_eval_fairness",
              "sample_efficiency": "05_eval_fairness", "overoptimization": "05_eval_fairness"}

CONTRACT = (
    "profile", "task", "base_model", "seed", "stages",
    "annotation.n_labels", "annotation.annotators", "annotation.fleiss_kappa", "annotation.krippendorff_alpha",
    "annotation.krippendorff_alpha_ci95", "annotation.gold_accuracy_by_annotator", "annotation.flagged_annotators",
    "reward_model.quantization", "reward_model.heldout_accuracy_vs_gold", "reward_model.heldout_accuracy_vs_labels",
    "reward_model.ece", "reward_model.length_correlation",
    "reward_model.heldout_n", "provenance.commit", "provenance.clean",
    *(f"policies.{m}.{k}" for m in POLICIES for k in ("gold_score_mean", "rm_score_mean", "mean_length_tokens")),
    *(f"policies.{m}.{k}" for m in ("sft", "ppo", "dpo", "rloo") for k in ("gold_win_rate_vs_base", "gold_win_rate_ci95")),
    *(f"policies.{m}.{k}" for m in ("ppo", "dpo", "rloo")
      for k in ("kl_to_sft", "gold_win_rate_vs_sft", "gold_win_rate_vs_sft_ci95", "gold_gain_vs_sft", "gold_gain_vs_sft_ci95",
                "train_seconds")),
)
FAIRNESS_CONTRACT = (   # tasks whose prompts carry names (hiring): 05's counterfactual audit
    *(f"fairness.{m}.{k}" for m in ("base", "sft", "ppo", "dpo", "rloo", "reward_model")
      for k in ("verdict", "impact_ratio_min", "impact_ratio_ci95", "group_effect_p", "worst_group")),
    "fairness.power.unbiased_pass_rate", "fairness.power.planted_detection_rate", "fairness.power.curve",
)
SAFETY_CONTRACT = (     # tasks with guardrails (support): 05's safety section
    *(f"safety.{m}.{k}" for m in ("sft", "ppo", "dpo", "rloo")
      for k in ("refusal_rate", "over_refusal_rate", "violation_rate", "helpfulness_mean", "conversation_success_rate",
                "cumulative_reward_mean")),
    *(f"safety.{m}.helpfulness_win_rate_vs_sft" for m in ("ppo", "dpo", "rloo")),
)


DATA_CONTRACT = (      # a task made from a preference file (FEEDBACKLOOP_DATA): no gold rubric, the labels and a proxy
    "profile", "task", "base_model", "seed", "stages", "provenance.commit", "provenance.clean",
    "annotation.n_labels", "annotation.annotators",
    "reward_model.quantization", "reward_model.heldout_accuracy_vs_labels", "reward_model.heldout_accuracy_vs_labels_ci95",
    "reward_model.heldout_n", "reward_model.ece", "reward_model.length_correlation",
    "dpo.implicit_accuracy_vs_labels", "dpo.implicit_accuracy_vs_labels_ci95",
    *(f"policies.{m}.{k}" for m in POLICIES for k in ("rm_score_mean", "mean_length_tokens")),
    *(f"policies.{m}.{k}" for m in ("ppo", "dpo", "rloo")
      for k in ("kl_to_sft", "rm_win_rate_vs_sft", "rm_win_rate_vs_sft_ci95", "rm_gain_vs_sft", "train_seconds")),
)


def contract(data: dict) -> tuple[str, ...]:
    """The keys a complete run of this task must have written: the common ones, and its task's audit (a task made
    from a preference file: `DATA_CONTRACT`)."""
    from .config import DATA_PREFIX
    from .tasks import get as get_task
    if str(data.get("task") or "").startswith(DATA_PREFIX):
        return DATA_CONTRACT
    task = get_task(data.get("task") or None)
    return CONTRACT + (FAIRNESS_CONTRACT if task.fairness is not None else ()) + (SAFETY_CONTRACT if task.guardrails else ())


NULLABLE = ("worst_group",)   # present but null by design: every impact ratio is 1, no group is lowest


def missing(data: dict, keys=None) -> list[str]:
    """Every key of `keys` (default: the task's contract) that is absent, or null where null is not a value
    (`NULLABLE`: a key that ends so may be null)."""
    keys = contract(data) if keys is None else keys
    out = []
    for key in keys:
        try:
            value = get(data, key)
        except KeyError:
            out.append(key)
            continue
        if value is None and not key.endswith(NULLABLE):
            out.append(key)
    return out


def require(data: dict, keys=None) -> None:
    """Raise MissingMetric listing every missing key at once, with the notebook that writes it."""
    gone = missing(data, keys)
    if gone:
        lines = [f"  {k}  (written by {WRITTEN_BY.get(k.split('.')[0], '?')})" for k in gone]
        raise MissingMetric(f"metrics.json lacks {len(gone)} number(s) the report needs:\n" + "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """`python -m helpers.report --pipeline-seconds S`: record the wall time of a whole `make pipeline`."""
    import argparse

    from . import config
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--pipeline-seconds", type=float, required=True, help="the seconds `make pipeline` took")
    args = parser.parse_args(argv)
    metrics = config.paths(config.choose_profile()).reports / "metrics.json"
    update(metrics, {"pipeline": {"seconds": args.pipeline_seconds,
                                  "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}})
    print(f"make pipeline took {args.pipeline_seconds:.0f} s; recorded in {metrics}")


if __name__ == "__main__":
    main()
