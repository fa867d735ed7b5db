"""PPO's passes on one frozen trunk: the blocks below the first LoRA block run once a rollout.

PPO puts LoRA on the top blocks of the policy only, so what the lower blocks compute does not depend on anything PPO
trains. The reference (adapters off), the old policy, the value head and every PPO epoch need the same lower blocks'
output: `FrozenTrunk.bottom` computes it once, without gradients, and `FrozenTrunk.top` runs only the top blocks
from it (trlx's hydra model and Hydra-RLHF, Santacroce et al. 2023, share the trunk the same way). The numbers are
those of a full forward pass (tests/test_trunk.py, fp32, 1e-4). The trunk needs a Llama-style decoder
(`model.embed_tokens`, `model.layers`, `model.norm`, `model.rotary_emb`), as SmolLM2, Llama, Qwen2 and Mistral are;
`last_hidden_state` (the whole pass, what PPO without a trunk runs) takes any transformers causal LM.

`token_logprobs` is the one way a log-probability that enters a ratio is computed: the LM head in fp32 on the
positions that predict response tokens only, then log-softmax in fp32.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch


def causal_lm(model):
    """The transformers causal LM inside a peft model (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def first_adapted_block(model) -> int:
    """The index of the lowest transformer block holding a trainable parameter (a LoRA adapter): below it, nothing
    trains. 0 when a trainable parameter sits outside the blocks (then nothing can be shared)."""
    blocks = []
    for name, p in model.named_parameters():
        if p.requires_grad:
            found = re.search(r"\.layers\.(\d+)\.", name)
            if not found:
                return 0
            blocks.append(int(found.group(1)))
    return min(blocks) if blocks else len(causal_lm(model).model.layers)


@dataclass
class Kept:
    """What the lower blocks computed for a batch: their output and the inputs the top blocks need again."""
    hidden: torch.Tensor         # (B, L, d): the input of block `split`
    attention_mask: torch.Tensor
    position_ids: torch.Tensor


class FrozenTrunk:
    """Run a causal LM as two parts: blocks [0, split) once (`bottom`), blocks [split, end) and the final norm as often
    as needed (`top`). `split` defaults to the first block with an adapter."""

    def __init__(self, model, split: int | None = None):
        self.model = model
        self.decoder = causal_lm(model).model
        for part in ("embed_tokens", "layers", "norm", "rotary_emb"):
            if not hasattr(self.decoder, part):
                raise TypeError(f"{type(self.decoder).__name__} has no `{part}`: FrozenTrunk needs a Llama-style decoder "
                                "(turn it off with PPOConfig(trunk=False))")
        self.split = first_adapted_block(model) if split is None else split
        if not 0 <= self.split <= len(self.decoder.layers):
            raise ValueError(f"split={self.split}: the model has {len(self.decoder.layers)} blocks")

    def _blocks(self, hidden, attention_mask, position_ids, blocks):
        from transformers.masking_utils import create_causal_mask
        mask = create_causal_mask(config=self.decoder.config, inputs_embeds=hidden, attention_mask=attention_mask,
                                  past_key_values=None, position_ids=position_ids)
        rope = self.decoder.rotary_emb(hidden, position_ids=position_ids)
        for block in blocks:
            hidden = block(hidden, attention_mask=mask, position_embeddings=rope, position_ids=position_ids,
                           use_cache=False)
        return hidden

    @torch.no_grad()
    def bottom(self, input_ids, attention_mask, position_ids) -> Kept:
        """The embeddings and the frozen blocks below `split`, once, without gradients."""
        hidden = self.decoder.embed_tokens(input_ids)
        hidden = self._blocks(hidden, attention_mask, position_ids, self.decoder.layers[:self.split])
        return Kept(hidden, attention_mask, position_ids)

    def top(self, kept: Kept, idx=slice(None)) -> torch.Tensor:
        """The last hidden state (after the final norm) of rows `idx`, from the kept output: blocks `split` on. With
        the adapters on or off (`model.disable_adapter()`), with or without gradients, as the caller runs it."""
        hidden = self._blocks(kept.hidden[idx], kept.attention_mask[idx], kept.position_ids[idx],
                              self.decoder.layers[self.split:])
        return self.decoder.norm(hidden)


def last_hidden_state(model, input_ids, attention_mask, position_ids) -> torch.Tensor:
    """The last hidden state (after the final norm) of a whole forward pass, every block, through the model's own
    decoder (`get_decoder()`: any transformers causal LM, not only Llama-style ones); no logits are computed."""
    return causal_lm(model).get_decoder()(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                          use_cache=False).last_hidden_state


def token_logprobs(model, hidden: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0,
                   with_entropy: bool = False):
    """log pi(target) at each position from the last hidden states that predict the targets (B, n, d) -> (B, n):
    the LM head in fp32 (outside any autocast) and log-softmax in fp32, so both sides of a ratio are computed alike
    whatever precision the blocks ran in. Returns (logp, entropy or None)."""
    from .ppo_math import entropy_from_logits
    head = causal_lm(model).get_output_embeddings()
    with torch.autocast(hidden.device.type, enabled=False):
        logits = torch.nn.functional.linear(hidden.float(), head.weight.float(),
                                            None if head.bias is None else head.bias.float()) / temperature
        logp = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        entropy = entropy_from_logits(logits) if with_entropy else None
    return logp, entropy
