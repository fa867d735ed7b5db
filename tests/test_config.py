"""Profiles, tasks and precision are chosen as documented, and bad names fail fast with the choices."""

import pytest

from helpers import config


def test_automatic_profile_follows_the_gpu(monkeypatch):
    monkeypatch.delenv("FEEDBACKLOOP_PROFILE", raising=False)
    monkeypatch.setattr(config, "has_cuda", lambda: False)
    assert config.choose_profile().name == "cpu"
    monkeypatch.setattr(config, "has_cuda", lambda: True)
    assert config.choose_profile().name == "gpu"


def test_environment_overrides_and_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv("FEEDBACKLOOP_PROFILE", "SMOKE")
    assert config.choose_profile().name == "smoke"
    assert config.choose_profile("gpu").name == "gpu"


def test_unknown_profile_and_task_fail_with_the_choices(monkeypatch):
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        config.choose_profile("laptop")
    monkeypatch.setenv("FEEDBACKLOOP_TASK", "sales")
    with pytest.raises(ValueError, match="hiring"):
        config.choose_task()


def test_profiles_grow_from_smoke_to_gpu():
    s, c, g = (config.PROFILES[n] for n in ("smoke", "cpu", "gpu"))
    for field in ("n_train_prompts", "max_new_tokens", "rm_steps", "dpo_steps", "ppo_steps"):
        assert getattr(s, field) < getattr(c, field) < getattr(g, field), field
    # the cpu profile must produce at least 200 comparisons for 01 and the sample dataset
    assert c.n_train_prompts * c.pairs_per_prompt >= 200


@pytest.mark.parametrize("capability, dtype", [((7, 5), "float16"), ((8, 0), "bfloat16"), ((9, 0), "bfloat16")])
def test_precision_on_cuda(monkeypatch, capability, dtype):
    import torch
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    p = config.choose_precision("cuda")
    assert p.dtype_name == dtype
    assert p.trainer_flags == {"bf16": dtype == "bfloat16", "fp16": dtype == "float16"}


def test_precision_on_cpu_follows_native_bf16_and_can_be_forced(monkeypatch):
    """bf16 autocast (fp32 weights) exactly where the CPU has native bf16; FEEDBACKLOOP_PRECISION forces a choice."""
    import torch
    monkeypatch.delenv(config.PRECISION_ENV, raising=False)
    monkeypatch.setattr(config, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    bf16 = config.choose_precision("cpu")
    assert bf16.dtype_name == "bfloat16" and bf16.weights_dtype == torch.float32
    assert bf16.trainer_flags == {"bf16": True, "fp16": False} and "avx512_bf16" in bf16.reason
    with bf16.autocast():
        assert torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(config, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert config.choose_precision("cpu").dtype_name == "bfloat16"
    monkeypatch.setattr(config, "cpu_flags", lambda: {"avx2", "avx512f"})
    p = config.choose_precision("cpu")
    assert p.dtype_name == "float32" and p.trainer_flags == {"bf16": False, "fp16": False}
    with p.autocast():
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(config, "cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setenv(config.PRECISION_ENV, "fp32")
    assert config.choose_precision("cpu").dtype_name == "float32"
    assert config.choose_precision("cpu", override="bf16").dtype_name == "bfloat16"
    monkeypatch.setenv(config.PRECISION_ENV, "fp16")
    with pytest.raises(ValueError, match="CUDA"):
        config.choose_precision("cpu")
    monkeypatch.setenv(config.PRECISION_ENV, "fp8")
    with pytest.raises(ValueError, match="auto, fp32, bf16 or fp16"):
        config.choose_precision("cpu")


def test_smoke_never_writes_the_published_report(monkeypatch):
    monkeypatch.delenv("FEEDBACKLOOP_REPORTS_DIR", raising=False)
    assert config.paths("smoke").reports == config.ROOT / "reports" / "smoke"
    assert config.paths("cpu").reports == config.ROOT / "reports"
    assert config.paths("cpu").generated != config.paths("smoke").generated


def test_readme_profile_table_matches_the_profiles():
    """The profile table (docs/profiles.md, linked from the README) is written by hand: it must say what
    helpers/config.py does."""
    text = (config.ROOT / "docs" / "profiles.md").read_text()
    for name, p in config.PROFILES.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[3:] == [str(p.sft_demos), f"{p.n_train_prompts} x {p.responses_per_prompt}", str(p.max_new_tokens),
                             str(p.n_test_prompts)], (name, cells)


def test_a_run_may_change_profile_fields_by_name(monkeypatch):
    monkeypatch.setenv(config.SET_ENV, "rm_steps=128, dpo_learning_rate=1e-4 dpo_sft_weight=0")
    profile = config.choose_profile("cpu")
    assert (profile.rm_steps, profile.dpo_learning_rate, profile.name) == (128, 1e-4, "cpu")
    assert profile.dpo_sft_weight == 0.0 and isinstance(profile.dpo_sft_weight, float)   # DPO as published
    assert config.PROFILES["cpu"].rm_steps != 128          # the table itself is not changed
    for bad, why in (("rm_stepz=1", "rm_stepz"), ("rm_steps=many", "must be a int"), ("rm_steps", "not <field>=<value>")):
        monkeypatch.setenv(config.SET_ENV, bad)
        with pytest.raises(ValueError, match=why):
            config.choose_profile("cpu")
