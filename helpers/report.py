"""reports/metrics.json: the one machine-readable record of a run (keys in DESIGN.md).

Every notebook adds its part with `update`, and times itself with `Stage`: seconds from its configuration
cell to its summary, and the peak memory of its kernel (resident set on the CPU; allocated memory on a GPU).
Nothing in the file is typed by hand.
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
    path = Path(path)
    data = _merge(read(path), new)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return data


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
    cpu = platform.processor() or platform.machine()
    return f"CPU only: {cpu}, {os.cpu_count()} cores"


class Stage:
    """Times one notebook: `stage = Stage("00_setup", metrics_path)` ... `stage.finish()`."""

    def __init__(self, name: str, metrics_path: Path):
        self.name, self.path, self.start = name, Path(metrics_path), time.perf_counter()

    def finish(self, extra: dict | None = None) -> dict:
        seconds = round(time.perf_counter() - self.start, 1)
        entry = {"seconds": seconds, "peak_mem_mb": peak_memory_mb(),
                 "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        update(self.path, {"stages": {self.name: {**entry, **(extra or {})}}})
        return entry


def start_run(metrics_path: Path, profile, task: str, base_model: str) -> dict:
    """The run's header: profile, task, base model, seed, hardware, library versions."""
    import torch
    import transformers
    import trl
    header = {"profile": profile.name, "task": task, "base_model": base_model, "seed": profile.seed,
              "hardware": hardware(), "python": platform.python_version(),
              "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__}}
    return update(metrics_path, header)


README_BEGIN = "<!-- measured:begin (written by `make readme` from reports/metrics.json; do not edit) -->"
README_END = "<!-- measured:end -->"


def readme_block(data: dict) -> str:
    """The README's measured block: how long each notebook took, where, in which profile."""
    lines = [README_BEGIN, "",
             f"Last `make pipeline`: profile `{get(data, 'profile')}`, task `{get(data, 'task')}`, "
             f"model {get(data, 'base_model')}, on {get(data, 'hardware')}, "
             f"torch {get(data, 'versions.torch')}, finished {data.get('pipeline', {}).get('finished_at', 'n/a')}.",
             "", "| notebook | seconds | peak memory (MB) |", "|---|---|---|"]
    for name, stage in sorted(get(data, "stages").items()):
        lines.append(f"| {name} | {stage['seconds']:.0f} | {stage['peak_mem_mb']:.0f} |")
    if "pipeline" in data:
        done = data["pipeline"].get("finished_at", "")
        later = sorted(n for n, st in get(data, "stages").items() if st.get("finished_at", "") > done)
        note = f"; {', '.join(later)} run separately after it" if later else ""
        lines.append(f"| **whole `make pipeline`** (kernel starts included{note}) | {data['pipeline']['seconds']:.0f} | |")
    lines += results_rows(data)
    return "\n".join(lines + ["", README_END])


def results_rows(data: dict) -> list[str]:
    """The headline results of the stages that have run; a stage that ran must have all its numbers."""
    rows = []
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
                        f"(base {get(data, 'ppo.base_rm_score_mean'):+.2f}), KL to base {get(data, f'{key}.kl_to_base'):.1f} "
                        f"nats per response; gold win rate vs base {get(data, f'{key}.gold_win_rate_vs_base'):.2f} "
                        f"[{lo:.2f}, {hi:.2f}] (n={get(data, f'{key}.heldout_prompts')}); "
                        f"{get(data, f'{key}.train_seconds'):.0f} s of training |")
    if "dpo" in data:
        lo, hi = get(data, "dpo.gold_win_rate_ci95")
        rm = get(data, "dpo.reward_model_accuracy_vs_gold")      # None when 02 did not run for that profile
        rm = "not run" if rm is None else f"{rm:.2f}"
        rows.append(f"| DPO (TRL, beta {get(data, 'dpo.beta')}, {get(data, 'dpo.loss_type')}) | gold win rate vs base "
                    f"{get(data, 'dpo.gold_win_rate_vs_base'):.2f} [{lo:.2f}, {hi:.2f}] (n={get(data, 'dpo.heldout_prompts')}), "
                    f"KL to base {get(data, 'dpo.kl_to_base'):.1f} nats per response; held-out implicit-reward accuracy "
                    f"vs gold {get(data, 'dpo.implicit_accuracy_vs_gold'):.2f} (reward model: {rm}); "
                    f"{get(data, 'dpo.train_seconds'):.0f} s of training |")
    return ["", "| stage | result |", "|---|---|", *rows] if rows else []


def write_readme(readme: Path, metrics: Path) -> None:
    import re
    text = Path(readme).read_text()
    block = readme_block(read(metrics))
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme}: the measured-results markers are missing")
    Path(readme).write_text(pattern.sub(lambda _: block, text))


def main(argv: list[str] | None = None) -> None:
    import argparse

    from . import config
    parser = argparse.ArgumentParser(description="reports/metrics.json tools")
    parser.add_argument("--pipeline-seconds", type=float, help="record the wall time of a whole `make pipeline`")
    parser.add_argument("--readme", action="store_true", help="rewrite the README's measured block")
    args = parser.parse_args(argv)
    where = config.paths(config.choose_profile())
    metrics = where.reports / "metrics.json"
    if args.pipeline_seconds is not None:
        update(metrics, {"pipeline": {"seconds": args.pipeline_seconds,
                                      "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}})
        print(f"make pipeline took {args.pipeline_seconds:.0f} s; recorded in {metrics}")
    if args.readme:
        write_readme(config.ROOT / "README.md", metrics)
        print(f"README.md measured block rewritten from {metrics}")


if __name__ == "__main__":
    main()
