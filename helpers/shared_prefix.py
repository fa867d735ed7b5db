"""Score many texts that begin alike, paying for each shared beginning once (a KV cache), not once a text.

A counterfactual audit scores every version of a profile: the same system prompt and job posting, then a name,
then the same profile. Everything before the first token that differs is the same computation for every version,
so it runs once (batch 1), its key/value cache is repeated for the family, and only the rest of each text runs,
right-padded. The results are the model's own: tests/test_shared_prefix.py checks them against a plain forward
pass of each text.

- `next_token_logprobs`: log P(candidate | text) for a few candidate next tokens of every text (a causal LM; for
  example " advance" and " hold" after "Decision:").
- `token_logprobs`: log P of each of the last `last` tokens of every sequence (a causal LM, continuations of several
  tokens).
- `branch_scores`: a sequence-classification model's score (a reward model) of each text followed by each of its
  endings: the text runs once, every ending on its cache (an assessment ending "advance" and the same ending "hold").

`families` lists the indices that share a beginning (a profile's versions); their common prefix is found from the
token ids, so nothing depends on where the caller thinks the texts differ.
"""

from __future__ import annotations

import numpy as np

from . import config


def common_prefix(seqs: list[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    for i in range(n):
        t = seqs[0][i]
        if any(s[i] != t for s in seqs):
            return i
    return n


def _family_forward(model, seqs: list[list[int]], keep: int, pad_id: int):
    """The prefix (capped so every sequence keeps at least `keep` tokens of its own) once, the suffixes on its cache,
    right-padded: a causal model never attends to a pad placed after its real tokens, so no mask is needed.
    Returns (prefix length L, the prefix's output, the suffixes' output, the suffix lengths)."""
    import torch
    device = next(model.parameters()).device
    L = max(1, min(common_prefix(seqs), min(len(s) for s in seqs) - keep))
    with torch.no_grad(), config.autocast_for(model):
        pre = model(input_ids=torch.tensor([seqs[0][:L]], device=device), use_cache=True)
        cache = pre.past_key_values
        cache.batch_repeat_interleave(len(seqs))
        lengths = [len(s) - L for s in seqs]
        width = max(lengths)
        suffix = torch.tensor([s[L:] + [pad_id] * (width - len(s) + L) for s in seqs], device=device)
        out = model(input_ids=suffix, past_key_values=cache, use_cache=True)
    return L, pre, out, lengths


def next_token_logprobs(model, sequences: list[list[int]], families: list[list[int]], candidates: list[int],
                        pad_id: int) -> np.ndarray:
    """(N, len(candidates)): log P(candidate | sequence) for the token after each whole sequence, a causal LM."""
    import torch
    out = np.zeros((len(sequences), len(candidates)))
    for fam in families:
        _, _, suf, lengths = _family_forward(model, [sequences[i] for i in fam], 1, pad_id)
        last = suf.logits[torch.arange(len(fam)), torch.tensor(lengths) - 1].float()
        out[fam] = torch.log_softmax(last, dim=-1)[:, candidates].cpu().numpy()
    return out


def token_logprobs(model, sequences: list[list[int]], families: list[list[int]], last: int, pad_id: int) -> np.ndarray:
    """(N, last): log P(token | everything before it) of the last `last` tokens of each sequence, a causal LM."""
    import torch
    out = np.zeros((len(sequences), last))
    for fam in families:
        seqs = [sequences[i] for i in fam]
        L, pre, suf, lengths = _family_forward(model, seqs, last, pad_id)
        # the logits that predict suffix token j sit at suffix position j - 1, and at the prefix's end for j = 0
        logits = torch.cat([pre.logits[:, -1:].expand(len(seqs), 1, -1), suf.logits], dim=1).float()
        logp = torch.log_softmax(logits, dim=-1)
        for row, (i, n) in enumerate(zip(fam, lengths)):
            targets = torch.tensor(sequences[i][L + n - last:L + n], device=logp.device)
            out[i] = logp[row, torch.arange(n - last, n, device=logp.device), targets].cpu().numpy()
    return out


def branch_scores(model, heads: list[list[int]], endings: list[list[list[int]]], families: list[list[int]],
                  pad_id: int) -> np.ndarray:
    """(N, K): a sequence-classification model's score of head i followed by its k-th ending, read at the ending's
    last non-pad token as the model pools. Per family: the common prefix once, the heads on its cache (right-padded),
    then every ending on the heads' cache, with the heads' pads masked out and positions counted from each head's
    own end. Every head needs the same number K of endings, none of them empty."""
    import torch
    K = len(endings[0])
    if any(len(e) != K for e in endings) or any(not t for e in endings for t in e):
        raise ValueError("every head needs the same number of endings, none of them empty")
    device = next(model.parameters()).device
    out = np.zeros((len(heads), K))
    for fam in families:
        seqs = [heads[i] for i in fam]
        L, _, mid, lengths = _family_forward(model, seqs, 1, pad_id)
        cache = mid.past_key_values
        cache.batch_repeat_interleave(K)                        # row r*K + k: head r, ending k
        width = max(lengths)
        tails = [endings[i][k] for i in fam for k in range(K)]
        t_width = max(len(t) for t in tails)
        head_len = torch.tensor(lengths, device=device).repeat_interleave(K)
        cols = torch.arange(width, device=device)
        mask = torch.cat([torch.ones(len(tails), L, dtype=torch.long, device=device),
                          (cols[None] < head_len[:, None]).long(),
                          torch.ones(len(tails), t_width, dtype=torch.long, device=device)], dim=1)
        ids = torch.tensor([t + [pad_id] * (t_width - len(t)) for t in tails], device=device)
        positions = L + head_len[:, None] + torch.arange(t_width, device=device)[None]
        with torch.no_grad(), config.autocast_for(model):
            res = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache)
        out[fam] = res.logits.float().reshape(len(fam), K).cpu().numpy()
    return out
