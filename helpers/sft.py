"""The supervised warm start (SFT): demonstrations from simulated writers, and TRL's SFTTrainer with LoRA on them.

Every recipe that shows RLHF working starts RL or DPO from a supervised policy (InstructGPT, StackLLaMA,
tinker-cookbook). A task supplies its writers (`Task.writers`: name -> (share, description, write(p, rng))); most are
careful and some have the habits real demonstrations have. `demonstrations` gives each prompt one writer, in the
writers' exact shares, and `train` fine-tunes the base model on the answers with the loss on the answer tokens only
(TRL's `completion_only_loss` on prompt-completion rows). The adapter is merged into the weights and the result
saved as an ordinary model folder: from then on every notebook loads the SFT policy like a Hub checkpoint, and
`sft.policy_source` finds it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

from . import config, models

SFT_META = "feedbackloop_sft.json"
DEMO_PROMPT_SEED = 2024   # the fresh demonstration prompts: the same ones in every run and profile


def allocate(writers: dict, n: int, seed: int = 0) -> list[str]:
    """Which writer writes each of n prompts: every writer's share rounded to whole prompts (largest remainders),
    in a seeded random order."""
    if not writers:
        raise ValueError("the task has no demonstration writers (Task.writers)")
    shares = {name: spec[0] for name, spec in writers.items()}
    total = sum(shares.values())
    exact = {k: n * v / total for k, v in shares.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
        counts[k] += 1
    order = [k for k in writers for _ in range(counts[k])]
    random.Random(seed).shuffle(order)
    return order


def demo_prompts(task, n: int, paths: config.Paths) -> list[dict]:
    """The prompts n demonstrations are written for: fresh prompts from the task's world where it can make them
    (`Task.demo_prompts`, as many as the profile asks), else the last n of the train split. Neither is a prompt whose
    answers 01 compares (those are the first of the train split) nor a validation or test prompt."""
    if task.demo_prompts is not None:
        return task.demo_prompts(n, DEMO_PROMPT_SEED)
    return task.load_prompts("train", path=paths.data / "prompts.jsonl")[-n:]


def demonstrations(task, prompts: list[dict], seed: int = 0) -> list[dict]:
    """One demonstration a prompt: {prompt_id, kind, writer, prompt (chat messages), completion (assistant message)}."""
    rows = []
    for p, writer in zip(prompts, allocate(task.writers, len(prompts), seed)):
        text = task.writers[writer][2](p, config.keyed_rng(seed, writer, p["id"]))
        rows.append({"prompt_id": p["id"], "kind": p["kind"], "writer": writer, "prompt": task.messages(p),
                     "completion": [{"role": "assistant", "content": text}]})
    return rows


def lora_config(profile: config.Profile, model=None):
    """LoRA on the top `sft_lora_layers` blocks (0 = all), no dropout: the backward pass stops there."""
    from peft import LoraConfig
    targets, layers = models.lora_targets(model, profile.sft_lora_layers)
    return LoraConfig(task_type="CAUSAL_LM", r=profile.lora_r, lora_alpha=2 * profile.lora_r, lora_dropout=0.0,
                      target_modules=targets, layers_to_transform=layers)


def build_trainer(source: str, rows: list[dict], profile: config.Profile, precision: config.Precision,
                  output_dir: Path, epochs: float | None = None, learning_rate: float | None = None):
    """TRL's SFTTrainer on prompt-completion rows (the loss on the completion only), LoRA from the profile. Every
    TRL default that would silently change a run is set here: precision, gradient checkpointing, the learning rate
    and its schedule, the maximum length."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    set_seed(profile.seed)
    tokenizer = models.load_tokenizer(source, padding_side="right")
    model = models.load_model(source, "policy", precision)
    data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    args = SFTConfig(
        output_dir=str(output_dir), num_train_epochs=epochs or profile.sft_epochs,
        per_device_train_batch_size=profile.sft_batch_size, learning_rate=learning_rate or profile.sft_learning_rate,
        lr_scheduler_type="linear", warmup_steps=0, max_length=profile.max_prompt_tokens + profile.max_new_tokens + 8,
        completion_only_loss=True, packing=False, gradient_checkpointing=False,
        use_cpu=precision.device == "cpu", **precision.trainer_flags, logging_steps=1, save_strategy="no",
        report_to="none", seed=profile.seed, dataloader_num_workers=0)
    models.lm_head_on_labelled_positions_only()   # on a CPU the prompt's positions skip the vocabulary projection
    return SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                      peft_config=lora_config(profile, model))


def save_merged(trainer, folder: Path, base: str, extra: dict | None = None) -> Path:
    """Merge the LoRA adapter into the weights and save an ordinary model folder (written under a temporary name and
    renamed when complete, so an interrupted run leaves no half-written policy)."""
    folder = Path(folder)
    merged = trainer.model.merge_and_unload()
    tokenizer = trainer.processing_class
    tmp = folder.with_name(folder.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(tmp)
    (tmp / SFT_META).write_text(json.dumps({"base": base, **(extra or {})}, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def train(source: str, rows: list[dict], profile: config.Profile, precision: config.Precision, folder: Path,
          base_name: str = "") -> dict:
    """Fine-tune, merge and save the SFT policy in `folder`; return its training log and seconds."""
    start = time.perf_counter()
    trainer = build_trainer(source, rows, profile, precision, Path(folder).with_name(Path(folder).name + "-trainer"))
    trainer.train()
    seconds = round(time.perf_counter() - start, 1)
    log = [h for h in trainer.state.log_history if "loss" in h]
    save_merged(trainer, folder, source, {"base_name": base_name, "demonstrations": len(rows), "seconds": seconds,
                                          "profile": profile.name})
    return {"log": log, "seconds": seconds, "steps": trainer.state.global_step}


def policy_dir(paths: config.Paths) -> Path:
    """Where 00 saves the SFT policy of a task and profile."""
    return paths.run / "sft_policy"


def clear_later_stages(paths: config.Paths) -> list[str]:
    """Remove what 02-05 trained from an earlier starting policy (reward models, policies, checkpoints) from the
    run folder: a new SFT policy would otherwise carry adapters trained on another. The executed notebooks stay."""
    gone = []
    for item in sorted(paths.run.iterdir()) if paths.run.exists() else []:
        if item.name != "notebooks" and not item.name.startswith(policy_dir(paths).name):   # sft_policy, its trainer
            shutil.rmtree(item) if item.is_dir() else item.unlink()
            gone.append(item.name)
    return gone


def is_complete(folder: Path) -> bool:
    folder = Path(folder)
    return (folder / SFT_META).exists() and (folder / "config.json").exists() and any(folder.glob("*.safetensors"))


def policy_source(task, profile: config.Profile, precision: config.Precision, paths: config.Paths,
                  say=print) -> models.ModelSource:
    """The policy every notebook after 00 starts from: the SFT policy 00 saved, or, when it is missing (a notebook
    opened on its own), the same SFT rebuilt here from the task's demonstrations, said in one line."""
    folder = policy_dir(paths)
    base = models.resolve_model(profile)
    if not is_complete(folder):
        say(f"No SFT policy from 00_setup in {folder.relative_to(config.ROOT) if folder.is_relative_to(config.ROOT) else folder}:"
            f" training it here on {profile.sft_demos} demonstrations, as 00 does.")
        train(base.path, demonstrations(task, demo_prompts(task, profile.sft_demos, paths), profile.seed), profile, precision,
              folder, base.name)
    return models.ModelSource(str(folder), "sft", f"{base.name} + SFT", "the supervised warm start of 00_setup")
