"""The held-out answers every notebook judges, sampled once per model and reused.

03, 04 and 05 judge their policies on the same test prompts with the same seeds and the same decoding, against the
same SFT policy's answers, and on a CPU sampling is most of what they cost. `test_samples` keys one set of answers
by everything that decides them (the model's weights, the prompts, the seed, the decoding, the batching) and by the
scorer's weights, and saves the rows under the run's folder: a later notebook asking the same question reads them
instead of sampling again, and any change to one of those inputs samples afresh. The rows are exactly what
`sample_and_score` returns (tests/test_evaluation.py checks a read against a fresh sample). `sample_and_score` is the
one way every notebook samples and scores a policy's answers (03's evaluation, 04's, 05's checkpoints).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from contextlib import nullcontext
from pathlib import Path

from . import records, report

FORMAT = 2   # bump when the rows change meaning, so old files are not read as new ones (2: bf16 KL from one pass)


def weights_fingerprint(model, adapters: bool = True) -> str:
    """A hash of the weights that decide the model's outputs: every tensor, with only the *active* LoRA adapter's
    (none with `adapters=False`, the base model a peft model holds). Adapter names are left out of the key, so
    one adapter loaded as "default" in 03 and as "ppo" in 05 hashes the same, and so are the wrappers LoRA puts
    around a layer (`base_layer`), so the SFT policy under PPO's adapters hashes as it does under DPO's."""
    import torch
    active = getattr(model, "active_adapter", None) if adapters else None
    if isinstance(active, (list, tuple)):
        active = active[0] if len(active) == 1 else None
    kept = []
    for name, t in model.state_dict().items():
        parts = name.split(".")
        if "lora_" in name:
            if active is None or active not in parts:
                continue
            parts = [p for p in parts if p != active]
        kept.append((".".join(p for p in parts if p != "base_layer"), t))
    h = hashlib.blake2b(digest_size=16)
    for name, t in sorted(kept, key=lambda x: x[0]):
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def files_fingerprint(folder: Path) -> str:
    """A hash of every file in a saved model's folder (names and bytes). For a scorer, the reward model of 02: its
    weights in memory are no key, because its base's unused score head is drawn afresh at every load (peft keeps
    the trained copy) and bitsandbytes repacks 4-bit weights on a CPU's first forward pass."""
    h = hashlib.blake2b(digest_size=16)
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        h.update(str(f.relative_to(folder)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def sample_and_score(policy, tokenizer, prompts: list[list[dict]], cfg, score_fn, seed: int = 0,
                     batch_size: int = 8, reference: bool = False, desc: str = "sampling") -> list[dict]:
    """One response per prompt from the policy (or, with `reference=True`, from the base model: adapters off),
    sampled as in training, with its score, its KL to the base model (sum over its tokens of log pi - log pi_ref,
    the k1 estimate on the policy's own samples) and its length. Same seed, same prompts: a fair before/after.

    Passes are saved: the base model's KL to itself is 0 (no scoring pass), and in fp32 the policy's log pi comes
    from the logits its samples were drawn from (`ppo.sampled_logprobs_usable`); in bf16 both sides of the KL are
    scored by the same pass."""
    import torch
    from tqdm.auto import tqdm

    from .ppo import response_logprobs, rollout, sampled_logprobs_usable
    from .ppo_math import masked
    with torch.no_grad():
        rows = []
        from_rollout = sampled_logprobs_usable(policy, cfg)
        for b, start in enumerate(tqdm(range(0, len(prompts), batch_size), desc=desc, unit="batch")):
            chunk = prompts[start:start + batch_size]
            with policy.disable_adapter() if reference else nullcontext():
                r = rollout(policy, tokenizer, chunk, cfg, generator_seed=seed * 100_003 + b,
                            keep_sampling_logprobs=from_rollout and not reference)
            if reference:
                kl = torch.zeros(len(chunk))
            else:
                logp = r.stats["sampling_logprobs"] if from_rollout else response_logprobs(policy, r, cfg.temperature)[0]
                with policy.disable_adapter():
                    ref, _ = response_logprobs(policy, r, cfg.temperature)
                kl = masked(logp - ref, r.mask).sum(dim=1)
            scores = score_fn(chunk, r.texts)
            rows += [{"response": t, "score": float(s), "kl": float(k), "tokens": int(n), "ended": bool(e)}
                     for t, s, k, n, e in zip(r.texts, scores, kl, r.mask.sum(dim=1), r.ended)]
    return rows


def sample_key(model, prompts: list, cfg, seed: int, batch_size: int, reference: bool, scorer: str) -> str:
    parts = {"format": FORMAT, "weights": weights_fingerprint(model, adapters=not reference), "reference": reference,
             "prompts": hashlib.blake2b(json.dumps(prompts, sort_keys=True).encode(), digest_size=16).hexdigest(),
             "decoding": dataclasses.asdict(cfg), "seed": seed, "batch_size": batch_size, "scorer": scorer}
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()


def test_samples(policy, tokenizer, prompts: list[list[dict]], cfg, score_fn, folder: Path, *, seed: int,
                 scorer: str, batch_size: int, reference: bool = False, desc: str = "sampling",
                 log: list | None = None) -> list[dict]:
    """`sample_and_score(...)`, saved in `folder` under a key of its inputs and read back when asked again.

    `scorer` names the scoring function's weights (`files_fingerprint` of the reward model's folder, or any string
    that changes when they do): the saved scores are only reused under the same scorer. `batch_size` decides the draws
    (one generator seed a batch) and the speed: on a CPU, decoding 32 answers at once gives about 1.4x the tokens a
    second of decoding 8 (the notebooks use the profile's `gen_batch_size`). `log`, when given, gets one entry per
    call: {"desc", "read" (True when read back), "seconds" (what sampling took, or took when first made)}."""
    key = sample_key(policy, prompts, cfg, seed, batch_size, reference, scorer)
    path, meta = Path(folder) / f"{key}.jsonl", Path(folder) / f"{key}.meta.json"
    if path.exists() and meta.exists():
        rows, made = records.load_rows(path), json.loads(meta.read_text())
        if len(rows) == len(prompts):
            print(f"{desc}: {len(rows)} answers read from {path.name}, sampled by \"{made['desc']}\" with the same weights, "
                  f"prompts, seed and decoding ({made['seconds']:.0f} s saved)")
            report.note_reused(made["seconds"])   # the stage's time then says what reading back saved
            if log is not None:
                log.append({"desc": desc, "read": True, "seconds": made["seconds"]})
            return rows
    start = time.perf_counter()
    rows = sample_and_score(policy, tokenizer, prompts, cfg, score_fn, seed=seed, batch_size=batch_size,
                            reference=reference, desc=desc)
    records.save_rows(rows, path)
    seconds = round(time.perf_counter() - start, 1)
    meta.write_text(json.dumps({"desc": desc, "seconds": seconds, "n": len(rows)}))
    if log is not None:
        log.append({"desc": desc, "read": False, "seconds": seconds})
    return rows
