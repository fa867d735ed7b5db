"""Sampling: K answers a prompt with the prompt read once give the answers of the unshared path, in prompt order."""

import pytest

from helpers import config, generation, models


@pytest.fixture(scope="module")
def lm():
    source = models.resolve_model(config.choose_profile("smoke"))
    return models.load_model(source, "policy", config.choose_precision("cpu")), models.load_tokenizer(source)


PROMPTS = [{"id": f"p{i}", "messages": [{"role": "user", "content": q}]} for i, q in
           enumerate(["Name one skill a data engineer needs.", "Say hello.", "What is SQL, in one sentence?"])]


@pytest.mark.parametrize("greedy", [True, False])
def test_shared_prefill_gives_the_samples_of_the_unshared_path(lm, greedy):
    model, tok = lm
    kw = dict(k=3, max_new_tokens=10, temperature=0.9, top_p=1.0, batch_size=6, seed=5, greedy=greedy)
    shared = generation.sample(model, tok, PROMPTS, share_prefill=True, **kw)
    unshared = generation.sample(model, tok, PROMPTS, share_prefill=False, **kw)
    assert [(s.prompt_id, s.sample) for s in shared] == [(p["id"], j) for p in PROMPTS for j in range(3)]
    assert [s.text for s in shared] == [s.text for s in unshared]
    if not greedy:   # sampled: the k answers of a prompt are not copies of each other
        assert len({s.text for s in shared if s.prompt_id == "p0"}) > 1


def test_same_seed_same_samples_other_seed_other_samples(lm):
    model, tok = lm
    kw = dict(k=2, max_new_tokens=10, temperature=0.9, top_p=1.0, batch_size=4)
    a = [s.text for s in generation.sample(model, tok, PROMPTS, seed=1, **kw)]
    assert a == [s.text for s in generation.sample(model, tok, PROMPTS, seed=1, **kw)]
    assert a != [s.text for s in generation.sample(model, tok, PROMPTS, seed=2, **kw)]
