"""Batched sampling from a chat model, with a progress bar.

Prompts are sorted by length so each left-padded batch wastes little, generated with the KV cache, and put
back in the caller's order. Each batch is seeded from (seed, batch index), so a run repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from . import config


@dataclass
class Sample:
    prompt_id: str
    sample: int          # 0..k-1
    text: str
    new_tokens: int
    finished: bool       # ended with the end-of-turn token rather than at max_new_tokens


def chat_inputs(tokenizer, conversations: list[list[dict]], max_prompt_tokens: int, ids: list[str] | None = None):
    """Tokenize chats with the model's chat template, ready for generation; too-long prompts fail by id."""
    enc = tokenizer.apply_chat_template(conversations, add_generation_prompt=True, padding=True,
                                        return_tensors="pt", return_dict=True)
    lengths = enc["attention_mask"].sum(dim=1)
    too_long = [i for i, n in enumerate(lengths.tolist()) if n > max_prompt_tokens]
    if too_long:
        names = [ids[i] if ids else str(i) for i in too_long[:3]]
        raise ValueError(f"{len(too_long)} prompt(s) exceed max_prompt_tokens={max_prompt_tokens} "
                         f"(for example {', '.join(names)}): raise the limit in the profile or shorten them.")
    return enc


@torch.no_grad()
def sample(model, tokenizer, prompts: list[dict], k: int = 1, max_new_tokens: int = 96, temperature: float = 0.9,
           top_p: float = 0.95, batch_size: int = 16, seed: int = 0, max_prompt_tokens: int = 512,
           greedy: bool = False, desc: str = "generating", share_prefill: bool = True) -> list[Sample]:
    """k responses to each prompt (a dict with `id` and `messages`), in prompt order then sample order.

    A batch holds `batch_size // k` prompts, each repeated k times. With `share_prefill` (and k > 1) each prompt is
    read once: one forward pass over the prompts fills the KV cache, which is then repeated k times, so the prompt's
    tokens are paid once instead of k times (on a CPU, prefill is about half of sampling's time). The samples are the
    ones the unshared path draws under the same seed (tests/test_generation.py)."""
    if tokenizer.padding_side != "left":
        raise ValueError("Batched generation needs a left-padding tokenizer (models.load_tokenizer does this).")
    lengths = [len(tokenizer.apply_chat_template(p["messages"], add_generation_prompt=True, return_dict=False))
               for p in prompts]   # transformers 5 returns a dict unless told otherwise: sort by token count
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    per_batch = max(1, batch_size // k)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    results: dict[tuple[int, int], Sample] = {}
    stop_ids = eos_ids(model, tokenizer)
    with tqdm(total=len(prompts) * k, desc=desc, unit="resp") as bar:
        for b, start in enumerate(range(0, len(order), per_batch)):
            idx = order[start:start + per_batch]
            enc = chat_inputs(tokenizer, [prompts[i]["messages"] for i in idx], max_prompt_tokens,
                              [prompts[i]["id"] for i in idx]).to(device)
            ids, attn = enc["input_ids"], enc["attention_mask"]
            cache = None
            if share_prefill and k > 1:
                cache = prefill(model, ids, attn)
                cache.batch_repeat_interleave(k)
            ids, attn = ids.repeat_interleave(k, dim=0), attn.repeat_interleave(k, dim=0)
            torch.manual_seed(seed * 100_003 + b)
            with config.autocast_for(model):
                out = model.generate(input_ids=ids, attention_mask=attn, past_key_values=cache,
                                     max_new_tokens=max_new_tokens, do_sample=not greedy,
                                     temperature=temperature if not greedy else None,
                                     top_p=top_p if not greedy else None, top_k=None if not greedy else None,
                                     pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_ids)
            new = out[:, ids.shape[1]:]
            for row in range(new.shape[0]):
                i, s = idx[row // k], row % k
                tokens = new[row].tolist()
                ended = next((n for n, t in enumerate(tokens) if t in stop_ids), None)
                kept = tokens if ended is None else tokens[:ended]
                results[(i, s)] = Sample(prompts[i]["id"], s, tokenizer.decode(kept, skip_special_tokens=True).strip(),
                                         len(kept), ended is not None)
            bar.update(new.shape[0])
    model.train(was_training)
    return [results[(i, s)] for i in range(len(prompts)) for s in range(k)]


def prefill(model, input_ids, attention_mask):
    """The KV cache of every prompt token but the last (generate feeds the last one itself, with the cache)."""
    from transformers import DynamicCache
    cache = DynamicCache(config=model.config)
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    with config.autocast_for(model):
        model(input_ids=input_ids[:, :-1], attention_mask=attention_mask[:, :-1], position_ids=position_ids[:, :-1],
              past_key_values=cache, use_cache=True, logits_to_keep=1)
    return cache


def eos_ids(model, tokenizer) -> list[int]:
    """Every id that ends a response: the model's generation config's, and the tokenizer's."""
    ids = model.generation_config.eos_token_id
    ids = list(ids) if isinstance(ids, (list, tuple)) else [ids] if ids is not None else []
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids
