"""DPO with TRL's DPOTrainer, and the few numbers around it that TRL does not hand back per pair.

Direct preference optimization (Rafailov et al., 2023) trains the policy on preference pairs directly, with no
reward model and no sampling. For a prompt x, a chosen response y_w and a rejected one y_l:

    log-ratio  h(y) = log pi(y | x) - log pi_ref(y | x)        (summed over the response's tokens)
    implicit reward  r(y) = beta * h(y)
    loss  = -log sigmoid(r(y_w) - r(y_l))                      (`sigmoid`, the paper's loss)
    IPO   = (h(y_w) / |y_w| - h(y_l) / |y_l| - 1 / (2 beta))^2  (TRL averages the log-ratios per token)

The training itself is TRL's; this file builds the trainer for a profile (LoRA adapters, so the reference policy is
the same model with its adapters switched off), and scores pairs outside the trainer the way TRL tokenizes them, so
a held-out pair's implicit reward and the loss can be checked by hand (`tests/test_dpo.py` checks them against TRL).
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from . import config, models


def lora_config(profile: config.Profile, model=None, top_layers: int | None = None):
    """LoRA on the linear layers of the causal LM, no dropout (TRL disables dropout anyway). With `top_layers`
    (default: the profile's `dpo_lora_layers`; 0 = all) and the model given, only the top blocks get adapters: the
    backward pass then stops there, which is most of a CPU step's time."""
    from peft import LoraConfig
    targets, layers = models.lora_targets(model, profile.dpo_lora_layers if top_layers is None else top_layers)
    return LoraConfig(task_type="CAUSAL_LM", r=profile.lora_r, lora_alpha=2 * profile.lora_r, lora_dropout=0.0,
                      target_modules=targets, layers_to_transform=layers)


def loss(chosen_logratio: torch.Tensor, rejected_logratio: torch.Tensor, beta: float, loss_type: str = "sigmoid",
         chosen_tokens: torch.Tensor | None = None, rejected_tokens: torch.Tensor | None = None,
         sft_weight: float = 0.0, chosen_logps: torch.Tensor | None = None) -> torch.Tensor:
    """The mean DPO (`sigmoid`) or IPO (`ipo`) loss of a batch of pairs from their summed log-ratios, as in the
    module's docstring. IPO needs the responses' token counts. `sft_weight` > 0 adds that weight times the chosen
    responses' negative log-likelihood per token over the batch (RPO; TRL's "sft" loss term), which needs the
    policy's summed `chosen_logps` and `chosen_tokens`."""
    if loss_type == "sigmoid":
        out = -F.logsigmoid(beta * (chosen_logratio - rejected_logratio)).mean()
    elif loss_type == "ipo":
        if chosen_tokens is None or rejected_tokens is None:
            raise ValueError("the IPO loss averages log-ratios per token: pass chosen_tokens and rejected_tokens")
        delta = chosen_logratio / chosen_tokens.clamp(min=1) - rejected_logratio / rejected_tokens.clamp(min=1)
        out = ((delta - 1 / (2 * beta)) ** 2).mean()
    else:
        raise ValueError(f"loss_type must be 'sigmoid' or 'ipo', not {loss_type!r}")
    if sft_weight:
        if chosen_logps is None or chosen_tokens is None:
            raise ValueError("the SFT term is the chosen responses' NLL per token: pass chosen_logps and chosen_tokens")
        out = out + sft_weight * (-chosen_logps.sum() / chosen_tokens.sum().clamp(min=1))
    return out


def balance_pairs(rows: list[dict], verdict_of) -> tuple[list[dict], dict]:
    """DPO learns words before it learns reasons. Where the pairs whose answers end in different verdicts (hiring:
    "advance" against "hold") mostly run one way, the cheapest way down the loss is to say the winning word whatever
    the prompt: a policy whose mistakes are mostly wrong advances gets pairs where "hold" wins four times in five, and
    learns to hold everyone. This repeats the pairs of the rarer direction (whole copies, rounded) so both directions
    weigh about the same; pairs whose answers share a verdict, or lack one, are kept once.

    `verdict_of(text)` gives an answer's verdict or None. Returns the rows (the originals first) and the counts
    `{"chosen > rejected": n, ...}` before balancing, with the `repeat` applied to the rarer direction."""
    ways: dict[tuple, list[dict]] = {}
    for r in rows:
        v = tuple(verdict_of(_text(r[side])) for side in ("chosen", "rejected"))
        if None not in v and v[0] != v[1]:
            ways.setdefault(v, []).append(r)
    counts = {f"{a} > {b}": len(rs) for (a, b), rs in sorted(ways.items())}
    if len(ways) != 2 or min(map(len, ways.values())) == 0:
        return list(rows), {**counts, "repeat": 1}
    rare, common = sorted(ways.values(), key=len)
    repeat = max(1, round(len(common) / len(rare)))
    return list(rows) + rare * (repeat - 1), {**counts, "repeat": repeat}


def rows_trl_trains_on(rows: list[dict], prompt_tokens, max_length: int, seen: int, seed: int) -> tuple[list[dict], int]:
    """The rows to give TRL's DPOTrainer, and how many were left out for a prompt of `max_length` tokens or more: TRL
    drops those itself (with `keep_start` truncation no answer token would be left), so they are dropped here, where it
    can be said. When more remain than training sees (`seen` = steps x batch size), a seeded sample of that many:
    TRL's reference pass covers every row it is given, seen or not. `prompt_tokens`: each row's, as tokenize_pair."""
    import random
    kept = [r for r, n in zip(rows, prompt_tokens, strict=True) if n < max_length]
    too_long = len(rows) - len(kept)
    return (random.Random(seed).sample(kept, seen) if len(kept) > seen else kept), too_long


def _text(side) -> str:
    """A response as text: a string, or the content of a conversational row's last message."""
    return side if isinstance(side, str) else side[-1]["content"]


def tokenize_pair(tokenizer, row: dict) -> dict:
    """Prompt, chosen and rejected token ids of one conversational row, as TRL's DPOTrainer makes them: each
    completion is what the chat template adds after the prompt (with its end-of-turn tokens)."""
    def ids(messages, **kw):
        return tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kw)["input_ids"]

    prompt = ids(row["prompt"], add_generation_prompt=True)
    chosen, rejected = ids(row["prompt"] + row["chosen"]), ids(row["prompt"] + row["rejected"])

    def common(a, b):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    n = min(common(prompt, chosen), common(prompt, rejected))
    return {"prompt_ids": prompt[:n], "chosen_ids": chosen[n:], "rejected_ids": rejected[n:]}


@torch.no_grad()
def pair_logps(model, tokenizer, rows: list[dict], max_length: int | None = None, batch_size: int = 8,
               reference: bool = False) -> dict[str, torch.Tensor]:
    """Summed log pi(response | prompt) of each row's chosen and rejected response, and their token counts, under
    the model (or, with `reference=True`, under the model with its adapters off). Sequences are cut at `max_length`
    from the end, as TRL's `keep_start` truncation does. Each distinct (prompt, response) is scored once: in the
    comparisons of 01 every answer of a prompt appears in K - 1 of them (tests/test_dpo.py checks the result is the
    row-by-row one)."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    where: dict[tuple, int] = {}
    index = {"chosen": [], "rejected": []}
    for t in (tokenize_pair(tokenizer, r) for r in rows):
        for side in ("chosen", "rejected"):
            index[side].append(where.setdefault((tuple(t["prompt_ids"]), tuple(t[f"{side}_ids"])), len(where)))
    unique = list(where)
    logps, counts = [], []
    was_training = model.training
    model.eval()
    with model.disable_adapter() if reference else nullcontext():
        for start in range(0, len(unique), batch_size):
            chunk = unique[start:start + batch_size]
            seqs = [list(p) + list(c) for p, c in chunk]
            masks = [[0] * len(p) + [1] * len(c) for p, c in chunk]
            if max_length:
                seqs, masks = [s[:max_length] for s in seqs], [m[:max_length] for m in masks]
            width = max(map(len, seqs))
            ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=device)
            attn = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=device)
            comp = torch.tensor([m + [0] * (width - len(m)) for m in masks], device=device)
            # logits only where a response token is predicted: from the shortest prompt's last token on
            keep = width - min(m.index(1) if 1 in m else len(m) for m in masks) + 1
            with config.autocast_for(model):
                logits = model(input_ids=ids, attention_mask=attn, use_cache=False, logits_to_keep=keep).logits
            logp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, width - keep + 1:].unsqueeze(-1)).squeeze(-1)
            m = comp[:, width - keep + 1:].bool()
            logps.append(torch.where(m, logp, torch.zeros_like(logp)).sum(1).cpu())
            counts.append(m.sum(1).cpu())
    model.train(was_training)
    logps, counts = torch.cat(logps), torch.cat(counts)
    return {key: values[torch.tensor(index[side], dtype=torch.long)]
            for side in ("chosen", "rejected") for key, values in ((side, logps), (f"{side}_tokens", counts))}


def implicit_rewards(model, tokenizer, rows: list[dict], beta: float, max_length: int | None = None,
                     batch_size: int = 8) -> dict[str, torch.Tensor]:
    """beta * (log pi - log pi_ref) of each row's chosen and rejected response: DPO's implicit reward model. The
    policy ranks a pair right when the chosen response's implicit reward is the higher."""
    pol = pair_logps(model, tokenizer, rows, max_length, batch_size)
    ref = pair_logps(model, tokenizer, rows, max_length, batch_size, reference=True)
    return {"chosen": beta * (pol["chosen"] - ref["chosen"]), "rejected": beta * (pol["rejected"] - ref["rejected"]),
            "chosen_logratio": pol["chosen"] - ref["chosen"], "rejected_logratio": pol["rejected"] - ref["rejected"],
            "chosen_tokens": pol["chosen_tokens"], "rejected_tokens": pol["rejected_tokens"], "chosen_logps": pol["chosen"]}


def build_trainer(source: str, rows, profile: config.Profile, precision: config.Precision,
                  output_dir: Path, beta: float = 0.1, loss_type: str = "sigmoid", steps: int | None = None,
                  batch_size: int | None = None, learning_rate: float | None = None, max_length: int | None = None,
                  quantize: bool = False, precompute_ref: bool = True, checkpointing: bool = False,
                  seed: int | None = None, log_every: int = 1, sft_weight: float = 0.0):
    """TRL's DPOTrainer for this profile: the base model (optionally 4-bit, QLoRA) with fresh LoRA adapters passed
    as `peft_config`, so that TRL takes the reference policy from the same model with the adapters off.

    `rows` are conversational {"prompt", "chosen", "rejected"} rows (`reward.preference_rows` makes them from
    preference records; other columns are dropped), or a `datasets.Dataset` of them. Arguments left as None come from the profile. Every TRL
    default that would silently change a run is set here: bf16 (TRL's default), gradient checkpointing (TRL's
    default: on), the learning rate (TRL's: 1e-6, for full fine-tuning) and its schedule. `sft_weight` > 0 adds the
    chosen answers' negative log-likelihood to the loss with that weight (RPO, Pang et al. 2024: TRL's
    `loss_type=[..., "sft"]`), which keeps DPO from lowering the likelihood of the answers it prefers."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import DPOConfig, DPOTrainer

    from .reward import keep_trainable_fp32
    steps = steps or profile.dpo_steps
    seed = profile.seed if seed is None else seed
    set_seed(seed)
    tokenizer = models.load_tokenizer(source, padding_side="right")
    model = models.load_model(source, "policy", precision, quantize_4bit=quantize)
    data = rows if isinstance(rows, Dataset) else \
        Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    args = DPOConfig(
        output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=batch_size or profile.dpo_batch_size,
        learning_rate=learning_rate or profile.dpo_learning_rate, lr_scheduler_type="linear", warmup_steps=0,
        beta=beta, loss_type=[loss_type] + (["sft"] if sft_weight else []),
        loss_weights=[1.0, sft_weight] if sft_weight else None,
        max_length=max_length or profile.max_prompt_tokens + profile.max_new_tokens,
        precompute_ref_log_probs=precompute_ref, precompute_ref_batch_size=8,
        activation_checkpointing=checkpointing, logging_steps=log_every, seed=seed, data_seed=seed,
        use_cpu=precision.device == "cpu",   # else Trainer sends batches to a GPU it finds, away from the model
        save_strategy="no", report_to="none", disable_tqdm=False, **precision.trainer_flags)
    models.lm_head_on_labelled_positions_only()   # on a CPU the prompt's positions skip the vocabulary projection
    trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                         peft_config=lora_config(profile, model))
    keep_trainable_fp32(trainer, precision)
    return trainer


def train_and_measure(base: str, precompute_ref: bool, checkpointing: bool, steps: int, batch_size: int,
                      max_length: int, quantize: bool = False, task: str | None = None) -> dict:
    """Train DPO for a few steps on pairs of the task's length (`Task.known_pairs`) with one memory/speed setting and report the
    process's peak memory, the seconds of a training step, and the set-up seconds (loading and tokenizing, and with
    `precompute_ref` the reference pass over the pairs, which TRL runs when the trainer is built). Run it in a fresh
    process (`python -m helpers.dpo`) so that peaks do not mix."""
    import tempfile
    import time

    from . import tasks
    from .report import peak_memory_mb
    precision = config.choose_precision()
    rows = tasks.get(task).known_pairs(steps * batch_size)
    start = time.perf_counter()
    trainer = build_trainer(base, rows, config.choose_profile(), precision,
                            Path(tempfile.mkdtemp(prefix="feedbackloop-dpo-bench-")), steps=steps,
                            batch_size=batch_size, max_length=max_length, precompute_ref=precompute_ref,
                            checkpointing=checkpointing, quantize=quantize, log_every=steps)
    trainer.args.disable_tqdm = True
    setup = time.perf_counter() - start
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if precision.device == "cuda" else peak_memory_mb()
    return {"precompute_ref": precompute_ref, "checkpointing": checkpointing, "max_length": max_length, "quantized": quantize,
            "steps": steps, "batch_size": batch_size, "seconds_per_step": round(seconds / steps, 2),
            "setup_seconds": round(setup, 1), "peak_memory_mb": round(peak, 1), "device": precision.device}


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="Measure DPO training memory and speed in this process.")
    parser.add_argument("--base", required=True)
    parser.add_argument("--precompute-ref", type=int, choices=(0, 1), required=True)
    parser.add_argument("--checkpointing", type=int, choices=(0, 1), default=0)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=480)
    parser.add_argument("--quantize", type=int, choices=(0, 1), default=0)
    parser.add_argument("--task", default=None, help="the task whose pairs it trains on (default: FEEDBACKLOOP_TASK)")
    a = parser.parse_args()
    print(json.dumps(train_and_measure(a.base, bool(a.precompute_ref), bool(a.checkpointing), a.steps, a.batch_size,
                                       a.max_length, bool(a.quantize), a.task)))
