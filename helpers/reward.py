"""The reward model's plumbing: QLoRA set-up around TRL's RewardTrainer, scoring, saving and loading.

The model is a sequence-classification head (`score`, one output) on the base model's backbone, loaded in 4-bit
nf4 (bitsandbytes) with LoRA adapters (peft). The head is trained from scratch, so it must be saved with the
adapter (`modules_to_save=["score"]`): without it a reloaded reward model scores at random.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import config, models

META = "feedbackloop_reward.json"


class RewardModelMissing(FileNotFoundError):
    """No complete saved reward model where one was expected; the message says what to run."""


def lora_config(profile: config.Profile, model=None):
    """LoRA on every linear layer and the fresh score head trained in full (and saved with the adapter).

    With `profile.rm_lora_layers` set and the model given, only the top blocks get adapters: gradients then stop
    there, so the backward pass is short. (peft needs the module names listed for that, not "all-linear".)
    """
    from peft import LoraConfig
    targets, layers = models.lora_targets(model, profile.rm_lora_layers)
    # no dropout: TRL's default disable_dropout=True would zero it anyway
    return LoraConfig(task_type="SEQ_CLS", r=profile.lora_r, lora_alpha=2 * profile.lora_r, lora_dropout=0.0,
                      target_modules=targets, layers_to_transform=layers, modules_to_save=["score"])


def build_trainer(source: str, rows: list[dict], profile: config.Profile, precision: config.Precision,
                  output_dir: Path, quantize: bool = True, steps: int | None = None, batch_size: int | None = None,
                  learning_rate: float | None = None, max_length: int | None = None, seed: int | None = None,
                  checkpointing: bool = False, log_every: int | None = None):
    """TRL's RewardTrainer on a (4-bit) sequence-classification model with LoRA, set up for this profile.

    `rows` are TRL preference rows ({"prompt", "chosen", "rejected"} in conversational form, as
    `preference_rows` makes them); other columns are dropped. Arguments left as None come from the profile.
    """
    from datasets import Dataset
    from transformers import set_seed
    from trl import RewardConfig, RewardTrainer
    steps = steps or profile.rm_steps
    seed = profile.seed if seed is None else seed
    set_seed(seed)          # before loading: the fresh score head's initial weights depend on it
    tokenizer = models.load_tokenizer(source, padding_side="right")
    model = models.load_model(source, "reward", precision, quantize_4bit=quantize)
    data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    args = RewardConfig(
        output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=batch_size or profile.rm_batch_size,
        learning_rate=learning_rate or profile.rm_learning_rate, lr_scheduler_type="linear", warmup_steps=0,
        max_length=max_length or profile.max_prompt_tokens + profile.max_new_tokens,
        logging_steps=log_every or max(1, steps // 20), seed=seed,
        # TRL defaults checkpointing on: it saves activation memory, costs ~25% time here, and (TRL then enables
        # input gradients) runs the backward pass through every block, undoing the top-blocks-only saving
        activation_checkpointing=checkpointing,
        use_cpu=precision.device == "cpu",   # else Trainer sends batches to a GPU it finds, away from the model
        save_strategy="no", report_to="none", **precision.trainer_flags)   # TRL defaults to bf16
    trainer = RewardTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                            peft_config=lora_config(profile, model))
    keep_trainable_fp32(trainer, precision)
    return trainer


def keep_trainable_fp32(trainer, precision: config.Precision) -> int:
    """TRL (1.16, reward_trainer.py) casts every trainable parameter of a quantized model to bf16, following the
    QLoRA paper. With fp32 compute (the CPU) the score head then meets fp32 activations and fails with
    "expected m1 and m2 to have the same dtype"; under fp16 mixed precision (a T4, which emulates bf16) the
    weights would lose their fp32 master copy, and so would they under a CPU's bf16 autocast. Cast them back
    before the optimizer exists; returns how many."""
    if precision.weights_dtype == torch.bfloat16:   # bf16 weights (Ampere and newer): TRL's cast is the recipe
        return 0
    n = 0
    for p in trainer.model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
            n += 1
    return n


def conversation_texts(tokenizer, prompts: list[list[dict]], responses: list[str]) -> list[str]:
    """Prompt messages plus the response as the assistant's turn, rendered by the chat template (as TRL does)."""
    return [tokenizer.apply_chat_template(p + [{"role": "assistant", "content": r}], tokenize=False)
            for p, r in zip(prompts, responses)]


@torch.no_grad()
def score(model, tokenizer, prompts: list[list[dict]], responses: list[str], batch_size: int = 16,
          max_length: int = 1024) -> torch.Tensor:
    """The reward of each (prompt, response), as a 1-D float tensor."""
    was_training = model.training
    model.eval()
    device = next(p for p in model.parameters()).device
    out = []
    texts = conversation_texts(tokenizer, prompts, responses)
    too_long = sum(len(ids) > max_length for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
    if too_long:
        import warnings
        warnings.warn(f"{too_long} of {len(texts)} texts exceed max_length={max_length} tokens: the start of their "
                      "conversation is cut so that the score is still read at the answer's end (training drops such "
                      "pairs instead)", stacklevel=2)
    side, tokenizer.truncation_side = tokenizer.truncation_side, "left"   # the answer is what is scored: keep its end
    try:
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i:i + batch_size], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt", add_special_tokens=False).to(device)
            with config.autocast_for(model):
                out.append(model(**enc).logits.squeeze(-1).float().cpu())
    finally:
        tokenizer.truncation_side = side
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def pair_scores(model, tokenizer, records: list[dict], system_prompt: str | None = None,
                max_length: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Scores of response_a and response_b of each preference record, under the same prompt. Each distinct
    (prompt, answer) is scored once: with K answers a prompt compared in all pairs, an answer appears in K - 1
    comparisons."""
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    keys = [(r["prompt"], r[side]) for side in ("response_a", "response_b") for r in records]
    distinct = list(dict.fromkeys(keys))
    scores = score(model, tokenizer, [system + [{"role": "user", "content": p}] for p, _ in distinct],
                   [t for _, t in distinct], max_length=max_length).numpy()
    at = {k: i for i, k in enumerate(distinct)}
    both = scores[[at[k] for k in keys]]
    return both[:len(records)], both[len(records):]


def calibration(p: np.ndarray, outcome: np.ndarray, n_bins: int = 10) -> tuple[pd.DataFrame, float]:
    """Reliability table (per bin of predicted probability: mean prediction, observed rate, count) and the
    expected calibration error: the count-weighted mean |prediction - observed rate| over the bins."""
    p, outcome = np.asarray(p, float), np.asarray(outcome, float)
    if len(p) == 0:
        raise ValueError("calibration needs at least one prediction")
    if p.min() < 0 or p.max() > 1:
        raise ValueError("predictions must be probabilities in [0, 1]")
    b = np.minimum((p * n_bins).astype(int), n_bins - 1)
    table = (pd.DataFrame({"bin": b, "p": p, "y": outcome}).groupby("bin")
             .agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size")).reset_index())
    ece = float((table.n * (table.predicted - table.observed).abs()).sum() / len(p))
    return table, ece


def save(model, tokenizer, path: Path, base: str, quantized: bool, extra: dict | None = None) -> Path:
    """Adapter + score head + tokenizer, and a note of the base model, so `load` can rebuild it.

    Careful on a CPU: bitsandbytes 0.50 packs 4-bit weights into a CPU format on the first eval-mode forward, and
    `state_dict()` (which saving calls) unpacks them lossily, so a 4-bit model that has already scored in eval mode
    scores slightly differently after it is saved. Take any scores you want to compare before saving; a model
    reloaded with `load` scores like the model did before the save.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / META).write_text(json.dumps({"base": base, "quantized": quantized, **(extra or {})}, indent=2))
    return path


def load(path: Path, precision: config.Precision | None = None, trainable: bool = False,
         quantize: bool | None = None):
    """(model, tokenizer) of a reward model saved by `save`; a clear error when it is missing or incomplete.
    `trainable=True` keeps the adapter and head trainable (PPO's critic starts from the reward model);
    `quantize` overrides how the base is loaded (by default as it was trained)."""
    from peft import PeftModel
    from safetensors import safe_open
    path = Path(path)
    weights = path / "adapter_model.safetensors"
    if not (path / META).exists() or not weights.exists() or not (path / "adapter_config.json").exists():
        raise RewardModelMissing(f"No complete reward model in {path}: run 02_reward_model.ipynb "
                                 f"(it writes adapter_model.safetensors, adapter_config.json and {META}).")
    with safe_open(str(weights), "pt") as f:
        if not any(".score." in k or k.startswith("score.") for k in f.keys()):
            raise RewardModelMissing(f"{weights} has no score head: it was saved without modules_to_save=['score'], "
                                     "so it would score at random. Retrain with helpers.reward.lora_config.")
    meta = json.loads((path / META).read_text())
    precision = precision or config.choose_precision()
    base = models.load_model(meta["base"], "reward", precision,
                             quantize_4bit=meta["quantized"] if quantize is None else quantize)
    model = PeftModel.from_pretrained(base, path, is_trainable=trainable)
    model.eval()
    tokenizer = models.load_tokenizer(str(path), padding_side="right")
    return model, tokenizer


def is_complete(path: Path) -> bool:
    path = Path(path)
    return all((path / f).exists() for f in (META, "adapter_model.safetensors", "adapter_config.json"))


def ensure(folder: Path, task, profile: config.Profile, precision: config.Precision, paths: config.Paths,
           quantize: bool = True, say=print) -> Path:
    """The reward model 02 saved in `folder`, or, when it is missing (a notebook opened on its own, as in a fresh
    Colab machine), one trained here as 02 trains it: on the labels of 01 or, without them, the shipped sample's
    (held-out prompts left out), from the SFT policy, with the profile's settings; said in one line."""
    folder = Path(folder)
    if is_complete(folder):
        return folder
    from . import agreement, sft
    agg_all, _, source = agreement.load_aggregated(paths)
    held = agreement.heldout_prompt_ids(agg_all, profile.heldout_every, task)
    rows = preference_rows([r for r in agg_all if r["prompt_id"] not in held], task.system_prompt)
    where = folder.relative_to(config.ROOT) if folder.is_relative_to(config.ROOT) else folder
    say(f"No reward model from 02_reward_model in {where}: training it here as 02 does, on {len(rows)} pairs of {source} "
        f"({profile.rm_steps} steps).")
    policy = sft.policy_source(task, profile, precision, paths, say=say)
    max_length = profile.max_prompt_tokens + profile.max_new_tokens
    trainer = build_trainer(policy.path, rows, profile, precision, folder / "trainer", quantize=quantize,
                            max_length=max_length)
    trainer.train()
    save(trainer.model, trainer.processing_class, folder, policy.path, quantize,
         {"trained_on": f"{source} (built by a later notebook run on its own)", "profile": profile.name,
          "max_length": max_length})
    return folder


def preference_rows(records: list[dict], system_prompt: str | None = None) -> list[dict]:
    """Aggregated preference records to TRL rows, keeping the record's id for evaluation."""
    from .records import to_trl
    kept = [r for r in records if r["winner"] != "tie"]
    return [{**row, "id": r["id"], "prompt_id": r["prompt_id"]} for r, row in zip(kept, to_trl(kept, system_prompt))]


def train_and_measure(base: str, quantize: bool, steps: int, batch_size: int, checkpointing: bool = False,
                      task: str | None = None) -> dict:
    """Train a reward model for a few steps on pairs of the task's length (`Task.known_pairs`) with this profile's settings, and
    report the process's peak memory and seconds a step. Run it in a fresh process (`python -m helpers.reward`) so
    that peaks do not mix."""
    import tempfile
    import time

    from . import tasks
    from .report import peak_memory_mb
    precision = config.choose_precision()
    rows = tasks.get(task).known_pairs(steps * batch_size)
    trainer = build_trainer(base, rows, config.choose_profile(), precision,
                            tempfile.mkdtemp(prefix="feedbackloop-rm-bench-"), quantize=quantize, steps=steps,
                            batch_size=batch_size, checkpointing=checkpointing, log_every=steps)
    trainer.args.disable_tqdm = True
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    if precision.device == "cuda":
        import torch
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = peak_memory_mb()
    return {"quantized": quantize, "checkpointing": checkpointing, "steps": steps, "batch_size": batch_size,
            "seconds_per_step": round(seconds / steps, 2), "peak_memory_mb": round(peak, 1),
            "weights_memory_mb": round(trainer.model.get_memory_footprint() / 2**20, 1), "device": precision.device}


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="Measure reward-model training memory and speed in this process.")
    parser.add_argument("--base", required=True)
    parser.add_argument("--quantize", type=int, choices=(0, 1), required=True)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--checkpointing", type=int, choices=(0, 1), default=0)
    parser.add_argument("--task", default=None, help="the task whose pairs it trains on (default: FEEDBACKLOOP_TASK)")
    a = parser.parse_args()
    print(json.dumps(train_and_measure(a.base, bool(a.quantize), a.steps, a.batch_size, checkpointing=bool(a.checkpointing),
                                       task=a.task)))
