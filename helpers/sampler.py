"""A plain copy of a LoRA policy to sample rollouts from, its adapters merged in before each rollout.

Sampling is most of an RL step on a CPU, and a LoRA policy samples slowly there: its frozen weights are fp32 (they
are the reference, and LoRA trains against them), so every decoding step under bf16 autocast casts them again, and
every LoRA layer adds its own small products. Systems that sample with a separate inference engine (TRL's and
OpenRLHF's vLLM path) keep a second copy of the model for sampling and copy the trained weights into it before each
rollout; this is that idea on one machine: a plain model held in the precision's `frozen_dtype` (bf16 on a CPU with
native bf16), into which `sync` writes W + B A (the base weight and the adapter's update) of every LoRA layer.

What is sampled then differs from the policy by rounding only; PPO's log-probabilities (both sides of its ratio, and
the reference's) are still taken from the policy itself, by the same pass (helpers/trunk.py).
"""

from __future__ import annotations

import torch

from . import config


class SamplerCopy:
    """`SamplerCopy(policy)`: a plain causal LM of the policy's base model (`source`, by default the folder the
    policy was loaded from) held in `frozen_dtype`; `sync()` copies the policy's LoRA layers, merged, into it."""

    def __init__(self, policy, source: str | None = None, precision: config.Precision | None = None):
        from . import models
        from .trunk import causal_lm
        self.policy = policy
        source = source or causal_lm(policy).config._name_or_path
        self.model = models.load_model(source, "policy", precision or config.choose_precision(), frozen=True).eval()
        self.model.requires_grad_(False)
        self.model.generation_config = causal_lm(policy).generation_config
        self.layers = self._lora_layers()

    def _lora_layers(self) -> list[tuple]:
        from peft.tuners.lora import LoraLayer
        out = []
        for name, module in self.policy.named_modules():
            if isinstance(module, LoraLayer):
                out.append((module, self.model.get_submodule(name.split("base_model.model.", 1)[-1])))
        if not out:
            raise ValueError("the policy has no LoRA layer: sample from it directly")
        return out

    @torch.no_grad()
    def sync(self):
        """Write each LoRA layer's W + B A (W alone where the adapters are off) into the copy; return the copy."""
        for lora, target in self.layers:
            weight = lora.get_base_layer().weight.float()
            active = [a for a in lora.active_adapters if a in lora.lora_A]
            if active and not lora.disable_adapters:
                weight = weight + lora.get_delta_weight(active[0]).float()
            target.weight.copy_(weight.to(target.weight.dtype))
        return self.model
