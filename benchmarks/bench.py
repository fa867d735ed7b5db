"""`make bench`: the cost of each unit of work, today's path and the default side by side, in one process, on the
same inputs.

    python -m benchmarks.bench                      every row, the cpu profile's settings
    python -m benchmarks.bench --rows sample,ppo    some rows
    python -m benchmarks.bench --sweep              also the sampling batch-size sweep

Two paths are measured for every row:

- baseline: fp32 (FEEDBACKLOOP_PRECISION=fp32), PPO with a critic model and every pass over all blocks (the old
  policy's log-probabilities from generate's logits), TRL's LM head over every position in RLOO;
- default: the precision policy of this device (config.choose_precision: bf16 autocast on a CPU with native bf16,
  models only sampled from held in bf16), PPO on the kept trunk with a value head (helpers/trunk.py) and its
  rollouts sampled from a merged copy (helpers/sampler.py), the LM head on the scored positions only.

Rows: seconds per 100 sampled answers, per PPO episode, per RLOO completion, per 100 SFT demonstrations (one epoch),
per 100 reward-model pairs and per 100 DPO pairs (the reference pass included), and the memory each adds at its
peak (VmHWM, reset before each measurement, less the resident set before it; GPU allocation on CUDA). The models
are the profile's base model with fresh adapters and an untrained reward head: the cost of the work, not its quality (the quality table is
`python -m benchmarks.quality`). Writes reports/benchmarks.json (the commit, the CPU, `rows`) and
reports/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from helpers import config, models, ppo, reward, sft, tasks
from helpers import dpo as dpo_helpers
from helpers.generation import sample
from helpers.report import hardware

ROWS = {   # name: (unit of work, how many units one measurement does)
    "sample": ("100 sampled answers", 100),
    "ppo": ("PPO episode", 1),
    "rloo": ("RLOO completion", 1),
    "sft": ("100 SFT demonstrations", 100),
    "reward_model": ("100 reward-model pairs", 100),
    "dpo": ("100 DPO pairs", 100),
}
PATHS = ("baseline", "default")


# ---------------------------------------------------------------- measuring

def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")    # Linux: VmHWM back to the current resident set


def peak_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    from helpers.report import peak_memory_mb
    return peak_memory_mb()


@contextlib.contextmanager
def path_settings(path: str):
    """The precision, and TRL's LM head, of one path; put back afterwards."""
    from trl.trainer import utils as trl_utils
    saved_env, saved_triton = os.environ.get(config.PRECISION_ENV), getattr(trl_utils, "_use_triton", None)
    os.environ[config.PRECISION_ENV] = "fp32" if path == "baseline" else "auto"
    if path == "default":
        models.lm_head_on_labelled_positions_only()
    try:
        yield config.choose_precision()
    finally:
        if saved_env is None:
            os.environ.pop(config.PRECISION_ENV, None)
        else:
            os.environ[config.PRECISION_ENV] = saved_env
        if saved_triton is not None:
            trl_utils._use_triton = saved_triton


def resident_mb() -> float:
    """This process's resident set now (Linux); 0 where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def timed(fn) -> tuple[float, float]:
    """Seconds `fn` took, and the memory it added at its peak: the peak resident set during it less what was resident
    before (models the measurement loaded itself count; what earlier rows left behind does not)."""
    import gc
    gc.collect()
    before = 0.0 if torch.cuda.is_available() else resident_mb()
    reset_peak()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, max(0.0, peak_mb() - before)


# ---------------------------------------------------------------- the rows

class Bench:
    def __init__(self, profile: config.Profile, n: int, gen_batch: dict):
        self.profile, self.n, self.gen_batch = profile, n, gen_batch
        self.task = tasks.get("hiring")
        self.base = models.resolve_model(profile).path
        self.tokenizer = models.load_tokenizer(self.base, padding_side="left")
        self.test = self.task.load_prompts("test", n)
        self.train = self.task.load_prompts("train", n)
        self.pairs = self.task.known_pairs(n)
        self.demos = sft.demonstrations(self.task, self.task.load_prompts("train")[-n:], profile.seed)
        self._rm = None

    def rm(self):
        """An untrained 4-bit reward model: scoring costs what a trained one's does."""
        if self._rm is None:
            torch.manual_seed(0)
            self._rm = models.load_model(self.base, "reward", config.choose_precision(), quantize_4bit=True).eval()
            self._rm_tok = models.load_tokenizer(self.base, padding_side="right")
        return lambda prompts, texts: reward.score(self._rm, self._rm_tok, prompts, texts,
                                                   max_length=self.profile.max_prompt_tokens + self.profile.max_new_tokens)

    def sample(self, path, precision, batch_size=None):
        policy = models.load_model(self.base, "policy", precision, frozen=True)   # as 00 and 05 sample
        prompts = [{"id": p["id"], "messages": self.task.messages(p)} for p in self.test]
        batch = batch_size or self.gen_batch[path]
        sample(policy, self.tokenizer, prompts[:2], k=1, max_new_tokens=4, batch_size=2, seed=0, desc="warm-up")
        out = []
        seconds, peak = timed(lambda: out.extend(sample(
            policy, self.tokenizer, prompts, k=1, max_new_tokens=self.profile.max_new_tokens,
            temperature=self.profile.eval_temperature, top_p=1.0, batch_size=batch, seed=self.profile.eval_seed,
            max_prompt_tokens=self.profile.max_prompt_tokens, desc=f"sampling ({path}, batch {batch})")))
        return seconds, len(prompts), peak, {"batch_size": batch, "new_tokens": sum(s.new_tokens for s in out)}

    def ppo(self, path, precision, batch_size=None):
        p = self.profile.replace(ppo_batch_size=batch_size) if batch_size else self.profile
        torch.manual_seed(p.seed)
        policy = ppo.policy_model(self.base, precision, r=p.lora_r, top_layers=p.ppo_lora_layers)
        fast = path == "default"
        critic = None if fast else ppo.critic_model(precision, source=self.base, r=p.lora_r)
        cfg = ppo.PPOConfig(steps=2, batch_size=p.ppo_batch_size, minibatch_size=max(2, p.ppo_batch_size // 2),
                            ppo_epochs=2, learning_rate=p.ppo_learning_rate, critic_learning_rate=p.ppo_learning_rate,
                            max_new_tokens=p.ppo_max_new_tokens, value_head=fast, trunk=fast, sampler_copy=fast, checkpoint_every=0,
                            seed=p.seed)
        trainer = ppo.PPO(policy, critic, self.tokenizer, self.rm(), cfg)
        chats = [self.task.messages(q) for q in self.train]
        history = []
        seconds, peak = timed(lambda: history.extend(trainer.train_step(ppo.prompt_batch(chats, s, cfg.batch_size, p.seed))
                                                     for s in range(cfg.steps)))
        return seconds, cfg.steps * cfg.batch_size, peak, {
            "steps": cfg.steps, "batch_size": cfg.batch_size,
            "response_tokens": round(sum(h["response_tokens"] for h in history) / len(history), 1),
            "ratio_error_at_start": max(h["ratio_error_at_start"] for h in history)}

    def rloo(self, path, precision):
        from datasets import Dataset
        from trl import RLOOConfig, RLOOTrainer
        p = self.profile
        torch.manual_seed(p.seed)
        policy = ppo.policy_model(self.base, precision, r=p.lora_r, top_layers=p.ppo_lora_layers)
        score = self.rm()

        def reward_fn(prompts, completions, **kwargs):
            return [float(s) for s in score(prompts, [c[-1]["content"] if isinstance(c, list) else c for c in completions])]
        steps = 2
        args = RLOOConfig(output_dir=tempfile.mkdtemp(prefix="feedbackloop-bench-rloo-"), max_steps=steps,
                          per_device_train_batch_size=p.ppo_batch_size, num_generations=2,
                          max_completion_length=p.ppo_max_new_tokens, temperature=1.0, top_p=1.0, top_k=0, beta=0.05,
                          learning_rate=p.ppo_learning_rate, lr_scheduler_type="constant", num_iterations=1,
                          gradient_checkpointing=False, use_cpu=precision.device == "cpu", **precision.trainer_flags,
                          logging_steps=1, save_strategy="no", report_to="none", seed=p.seed, disable_dropout=True,
                          disable_tqdm=True)
        trainer = RLOOTrainer(model=policy, reward_funcs=reward_fn, args=args, processing_class=self.tokenizer,
                              train_dataset=Dataset.from_dict({"prompt": [self.task.messages(q) for q in self.train]}))
        seconds, peak = timed(trainer.train)
        return seconds, steps * p.ppo_batch_size, peak, {"steps": steps, "completions_per_step": p.ppo_batch_size}

    def sft(self, path, precision):
        out = tempfile.mkdtemp(prefix="feedbackloop-bench-sft-")
        trainer = sft.build_trainer(self.base, self.demos, self.profile, precision, Path(out), epochs=1)
        trainer.args.disable_tqdm = True
        seconds, peak = timed(trainer.train)
        return seconds, len(self.demos), peak, {"batch_size": self.profile.sft_batch_size}

    def reward_model(self, path, precision):
        rows = self.pairs
        steps = max(1, len(rows) // self.profile.rm_batch_size)
        trainer = reward.build_trainer(self.base, rows, self.profile, precision,
                                       Path(tempfile.mkdtemp(prefix="feedbackloop-bench-rm-")), steps=steps,
                                       log_every=steps)
        trainer.args.disable_tqdm = True
        seconds, peak = timed(trainer.train)
        return seconds, steps * self.profile.rm_batch_size, peak, {"steps": steps, "quantized": True}

    def dpo(self, path, precision):
        rows = self.pairs
        steps = max(1, len(rows) // self.profile.dpo_batch_size)
        holder = {}

        def build_and_train():   # TRL computes the reference log-probabilities while building: part of the cost
            holder["t"] = dpo_helpers.build_trainer(self.base, rows, self.profile, precision,
                                                    Path(tempfile.mkdtemp(prefix="feedbackloop-bench-dpo-")), steps=steps,
                                                    log_every=steps)
            holder["t"].args.disable_tqdm = True
            holder["t"].train()
        seconds, peak = timed(build_and_train)
        return seconds, steps * self.profile.dpo_batch_size, peak, {"steps": steps, "reference": "precomputed"}


def sweep_ppo(bench: Bench, sizes=(8, 16, 32)) -> list[dict]:
    """Seconds per PPO episode at each rollout batch (prompts a step; minibatches of half), default path."""
    out = []
    with path_settings("default") as precision:
        for b in sizes:
            seconds, n, peak, extra = bench.ppo("default", precision, batch_size=b)
            out.append({"batch_size": b, "seconds_per_episode": round(seconds / n, 3), "peak_memory_mb": round(peak),
                        "response_tokens": extra["response_tokens"]})
            print(out[-1], flush=True)
    return out


def sweep_sampling(bench: Bench, sizes=(8, 16, 32, 64)) -> list[dict]:
    """Seconds per 100 answers at each batch size, under the default precision."""
    out = []
    with path_settings("default") as precision:
        for b in sizes:
            seconds, n, peak, extra = bench.sample("default", precision, batch_size=b)
            out.append({"batch_size": b, "seconds_per_100": round(100 * seconds / n, 1), "peak_memory_mb": round(peak),
                        "new_tokens": extra["new_tokens"]})
            print(out[-1], flush=True)
    return out


# ---------------------------------------------------------------- the report

def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=config.ROOT,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                               cwd=config.ROOT).stdout.strip()
        return sha + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown(result: dict) -> str:
    lines = ["# Benchmarks: the cost of a unit of work, today's path against the default",
             "",
             f"Written by `make bench` (`python -m benchmarks.bench`) at commit {result['commit']}, profile "
             f"{result['profile']}, model {result['model']}, on {result['hardware']} (flags with bf16: "
             f"{', '.join(result['precision']['default'].get('cpu_bf16_flags', [])) or 'none'}), torch {result['torch']}. "
             "Seconds per unit; memory: what the measurement added at its peak over what was resident before it. "
             "baseline: fp32, PPO with a critic model and "
             "full passes, TRL's LM head over every position. default: "
             f"{result['precision']['default']['compute']} ({result['precision']['default']['reason']}), PPO on the kept "
             "trunk with a value head and rollouts from a merged copy, the LM head on scored positions only.",
             "",
             "| unit | baseline s | default s | speedup | baseline peak +MB | default peak +MB | measured on |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in result["rows"]:
        lengths = [f"{x['new_tokens'] / r['units_measured']:.0f}" if "new_tokens" in x else f"{x['response_tokens']:.0f}"
                   for x in (r["baseline"], r["default"]) if "new_tokens" in x or "response_tokens" in x]
        tokens = f", {' / '.join(lengths)} new tokens an answer" if lengths else ""
        lines.append(f"| {r['unit']} | {r['baseline_seconds']:.3g} | {r['default_seconds']:.3g} | {r['speedup']:.2f}x | "
                     f"{r['baseline_peak_mb']:.0f} | {r['default_peak_mb']:.0f} | {r['units_measured']} units{tokens} |")
    if result.get("sampling_sweep"):
        lines += ["", "Sampling batch-size sweep (default precision, seconds per 100 answers of at most "
                  f"{result['max_new_tokens']} new tokens):", "", "| batch | s / 100 | peak +MB |", "|---:|---:|---:|"]
        lines += [f"| {s['batch_size']} | {s['seconds_per_100']} | {s['peak_memory_mb']} |" for s in result["sampling_sweep"]]
    if result.get("ppo_sweep"):
        lines += ["", "PPO rollout batch sweep (default path, prompts a step, two minibatches, two epochs):", "",
                  "| batch | s / episode | mean response tokens | peak +MB |", "|---:|---:|---:|---:|"]
        lines += [f"| {s['batch_size']} | {s['seconds_per_episode']} | {s['response_tokens']} | {s['peak_memory_mb']} |"
                  for s in result["ppo_sweep"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--profile", default=None, help="whose settings (default: the automatic profile)")
    parser.add_argument("--n", type=int, default=32, help="prompts, demonstrations or pairs a measurement uses")
    parser.add_argument("--sweep", action="store_true", help="also sweep the sampling batch size")
    parser.add_argument("--out", default=None, help="folder for benchmarks.json and BENCHMARKS.md (default: reports/)")
    a = parser.parse_args(argv)
    rows = [r.strip() for r in a.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}: choose from {', '.join(ROWS)}")
    profile = config.choose_profile(a.profile)
    out = Path(a.out) if a.out else config.ROOT / "reports" / ("smoke" if profile.name == "smoke" else "")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    bench = Bench(profile, a.n, {"baseline": profile.gen_batch_size, "default": profile.gen_batch_size})
    result = {"commit": commit(), "profile": profile.name, "model": models.resolve_model(profile).name,
              "hardware": hardware(), "cpu": config.cpu_name(),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "max_new_tokens": profile.max_new_tokens,
              "precision": {}, "rows": []}
    if a.sweep:
        result["sampling_sweep"] = sweep_sampling(bench)
        result["ppo_sweep"] = sweep_ppo(bench)
    for name in rows:
        unit, _ = ROWS[name]
        measured = {}
        for path in PATHS:
            with path_settings(path) as precision:
                result["precision"][path] = precision.describe()
                seconds, units, peak, extra = getattr(bench, name)(path, precision)
            measured[path] = (seconds * ROWS[name][1] / units, peak, units, extra)
            print(f"{name:>13} {path:>8}: {measured[path][0]:.3f} s per {unit}, peak {peak:.0f} MB, {extra}", flush=True)
        (b, bp, units, bx), (d, dp, _, dx) = measured["baseline"], measured["default"]
        result["rows"].append({"name": name, "unit": unit, "baseline_seconds": round(b, 4), "default_seconds": round(d, 4),
                               "speedup": round(b / d, 2), "baseline_peak_mb": round(bp), "default_peak_mb": round(dp),
                               "units_measured": units, "baseline": bx, "default": dx})
    (out / "benchmarks.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "BENCHMARKS.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
