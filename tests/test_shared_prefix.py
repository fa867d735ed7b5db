"""Scoring on a shared prefix's cache gives what a plain forward pass of each whole text gives."""

import numpy as np
import pytest
import torch
from conftest import smoke_model

from helpers import config, models, shared_prefix

PRECISION = config.choose_precision("cpu", override="fp32")
pytestmark = pytest.mark.usefixtures("fp32")   # exact comparisons (conftest.fp32)
HEAD = "Job: data analyst. Candidate: "
TAILS = ["Mary Yoder, 3 yrs; SQL.", "Jason Pham, 3 yrs; SQL.", "Linda Ceja, 3 yrs; SQL, Python and dashboards."]


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer(smoke_model())


def encoded(tok, texts):
    return [tok(t, add_special_tokens=False).input_ids for t in texts]


def test_token_logprobs_equal_a_plain_forward_pass(tok):
    torch.manual_seed(0)
    model = models.load_model(smoke_model(), "policy", PRECISION).eval()
    seqs = encoded(tok, [HEAD + t for t in TAILS] + ["Another text entirely."])
    got = shared_prefix.token_logprobs(model, seqs, [[0, 1, 2], [3]], last=3, pad_id=tok.pad_token_id)
    for i, s in enumerate(seqs):
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([s])).logits[0].float(), -1)
        want = [logp[j - 1, s[j]].item() for j in range(len(s) - 3, len(s))]
        np.testing.assert_allclose(got[i], want, atol=2e-4)
    assert shared_prefix.common_prefix(seqs[:3]) >= len(encoded(tok, [HEAD])[0]) - 1


def test_next_token_logprobs_equal_a_plain_forward_pass(tok):
    model = models.load_model(smoke_model(), "policy", PRECISION).eval()
    seqs = encoded(tok, [HEAD + t + " Decision:" for t in TAILS])
    cands = [tok(" advance", add_special_tokens=False).input_ids[0], tok(" hold", add_special_tokens=False).input_ids[0]]
    got = shared_prefix.next_token_logprobs(model, seqs, [[0, 1, 2]], cands, pad_id=tok.pad_token_id)
    for i, s in enumerate(seqs):
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([s])).logits[0, -1].float(), -1)
        np.testing.assert_allclose(got[i], logp[cands].numpy(), atol=2e-4)


def test_branch_scores_equal_a_plain_forward_pass_of_each_whole_text(tok):
    torch.manual_seed(0)
    model = models.load_model(smoke_model(), "reward", PRECISION).eval()
    model.config.pad_token_id = tok.pad_token_id
    heads = encoded(tok, [HEAD + t + " Decision:" for t in TAILS])         # heads of different lengths
    endings = [encoded(tok, [" advance", " hold for now"]) for _ in TAILS]  # endings of different lengths
    got = shared_prefix.branch_scores(model, heads, endings, [[0, 1, 2]], pad_id=tok.pad_token_id)
    for i, h in enumerate(heads):
        for k, e in enumerate(endings[i]):
            with torch.no_grad():
                want = model(input_ids=torch.tensor([h + e])).logits[0, 0].item()
            assert got[i, k] == pytest.approx(want, abs=2e-4)
    with pytest.raises(ValueError, match="same number"):
        shared_prefix.branch_scores(model, heads[:2], [endings[0], endings[1][:1]], [[0, 1]], pad_id=tok.pad_token_id)
