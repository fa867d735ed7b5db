"""DPO: the loss by hand against TRL's, the preference-to-row conversion, and what training may and may not change."""

import pytest
import torch
from conftest import smoke_model

from helpers import config, dpo, generation, models, reward

PRECISION = config.choose_precision("cpu", override="fp32")
pytestmark = pytest.mark.usefixtures("fp32")   # exact comparisons (conftest.fp32)
SMOKE = config.choose_profile("smoke")
QUESTIONS = ("Describe a good interview.", "What is a resume?", "Name a skill.", "Say hello to the team.")


def rows():
    return [{"prompt": [{"role": "user", "content": q}],
             "chosen": [{"role": "assistant", "content": f"A clear, short answer about {q.lower()}"}],
             "rejected": [{"role": "assistant", "content": "no idea, whatever, ask someone else please"}]}
            for q in QUESTIONS]


def make(tmp_path, rows_override=None, **kw):
    base = smoke_model()
    args = {"steps": 2, "batch_size": 2, "learning_rate": 5e-3, "precompute_ref": False, "seed": 0, **kw}
    return dpo.build_trainer(base, rows() if rows_override is None else rows_override, SMOKE, PRECISION, tmp_path, **args)


def test_preference_records_become_rows_with_the_winner_chosen_and_ties_dropped():
    recs = [{"id": "1", "prompt_id": "p1", "prompt": "Q1", "response_a": "A1", "response_b": "B1", "winner": "a"},
            {"id": "2", "prompt_id": "p1", "prompt": "Q1", "response_a": "A2", "response_b": "B2", "winner": "tie"},
            {"id": "3", "prompt_id": "p2", "prompt": "Q2", "response_a": "A3", "response_b": "B3", "winner": "b"}]
    out = reward.preference_rows(recs, system_prompt="S")
    assert [r["id"] for r in out] == ["1", "3"]
    assert out[0]["chosen"][0]["content"] == "A1" and out[0]["rejected"][0]["content"] == "B1"
    assert out[1]["chosen"][0]["content"] == "B3" and out[1]["rejected"][0]["content"] == "A3"
    assert out[1]["prompt"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "Q2"}]


def test_hand_loss_formulas():
    c, r = torch.tensor([2.0, -1.0]), torch.tensor([0.0, 1.0])
    # -log sigmoid(0.5 * 2) and -log sigmoid(0.5 * -2)
    expected = (torch.log1p(torch.exp(torch.tensor(-1.0))) + torch.log1p(torch.exp(torch.tensor(1.0)))) / 2
    assert dpo.loss(c, r, 0.5).item() == pytest.approx(expected.item(), abs=1e-6)
    # IPO per token: (2/4 - 0/2 - 1/(2*0.5))^2 = 0.25 and (-1/1 - 1/1 - 1)^2 = 9
    ipo = dpo.loss(c, r, 0.5, "ipo", torch.tensor([4.0, 1.0]), torch.tensor([2.0, 1.0]))
    assert ipo.item() == pytest.approx((0.25 + 9) / 2, abs=1e-6)
    with pytest.raises(ValueError, match="chosen_tokens"):
        dpo.loss(c, r, 0.5, "ipo")


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo"])
def test_hand_computed_loss_matches_trl(tmp_path, loss_type):
    """Our tokenization, log-probabilities and formula give TRL's loss on the same batch, with a policy that
    differs from its reference (LoRA B matrices set away from zero)."""
    beta = 0.3
    trainer = make(tmp_path, beta=beta, loss_type=loss_type)
    torch.manual_seed(1)
    with torch.no_grad():
        for n, p in trainer.model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.02)
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.eval()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, batch).item()
    # the dataloader shuffles: find which rows the batch holds from its token ids
    data = rows()
    tok = trainer.processing_class
    wanted = [tok.decode(ids[m.bool()]) for ids, m in zip(batch["input_ids"], batch["completion_mask"])][:2]
    chosen_texts = [tok.decode(dpo.tokenize_pair(tok, r)["chosen_ids"]) for r in data]
    picked = [data[chosen_texts.index(w)] for w in wanted]
    ir = dpo.implicit_rewards(trainer.model, tok, picked, beta)
    hand = dpo.loss(ir["chosen_logratio"], ir["rejected_logratio"], beta, loss_type,
                    ir["chosen_tokens"].float(), ir["rejected_tokens"].float()).item()
    assert abs(ir["chosen_logratio"]).max() > 0.01          # the check is not the trivial log 2
    assert hand == pytest.approx(trl_loss, rel=1e-4, abs=1e-5)


def test_training_moves_the_adapters_not_the_reference_and_the_saved_policy_reloads(tmp_path):
    trainer = make(tmp_path, precompute_ref=True, steps=3)
    model, tok = trainer.model, trainer.processing_class
    lora_before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    assert lora_before and all("lora_" in n for n in lora_before)
    ref_before = dpo.pair_logps(model, tok, rows(), reference=True)
    trainer.train()
    moved = [n for n, p in model.named_parameters() if n in lora_before and not torch.equal(p, lora_before[n])]
    assert len(moved) == len(lora_before), "every adapter matrix should have moved"
    for n, p in model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), f"{n} changed: the reference must stay the base model"
    ref_after = dpo.pair_logps(model, tok, rows(), reference=True)
    assert torch.equal(ref_before["chosen"], ref_after["chosen"])
    after = dpo.implicit_rewards(model, tok, rows(), beta=0.1)
    assert (after["chosen"] - after["rejected"]).mean() > 0      # it learned the pairs it trained on

    base = smoke_model()
    left = models.load_tokenizer(base, padding_side="left")
    prompts = [{"id": str(i), "messages": r["prompt"]} for i, r in enumerate(rows())]
    before = generation.sample(model, left, prompts, max_new_tokens=12, greedy=True, batch_size=4)
    models.save_policy(model, left, tmp_path / "dpo_policy", base, {"method": "dpo"})
    loaded, loaded_tok = models.load_policy(tmp_path / "dpo_policy", PRECISION)
    again = generation.sample(loaded, loaded_tok, prompts, max_new_tokens=12, greedy=True, batch_size=4)
    assert [s.text for s in before] == [s.text for s in again]



def test_each_distinct_answer_is_scored_once_and_gives_the_row_by_row_numbers():
    base = smoke_model()
    model, tok = models.load_model(base, "policy", PRECISION), models.load_tokenizer(base, padding_side="right")
    r = rows()
    pairs = [r[0], {**r[0], "chosen": r[0]["rejected"], "rejected": r[0]["chosen"]}, r[1]]   # 4 distinct answers in 6 slots
    scored = []
    hook = model.register_forward_pre_hook(lambda m, args, kwargs: scored.append(kwargs["input_ids"].shape[0]),
                                           with_kwargs=True)
    together = dpo.pair_logps(model, tok, pairs)
    hook.remove()
    assert sum(scored) == 4
    alone = [dpo.pair_logps(model, tok, [p], batch_size=1) for p in pairs]
    for side in ("chosen", "rejected"):
        assert torch.allclose(together[side], torch.cat([a[side] for a in alone]), atol=1e-3)
        assert torch.equal(together[f"{side}_tokens"], torch.cat([a[f"{side}_tokens"] for a in alone]))
    assert together["chosen"][0] == together["rejected"][1]


def test_balance_pairs_repeats_the_rarer_verdict_direction_only():
    def row(chosen, rejected):
        return {"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}]}

    def verdict(text):
        return text.rsplit("Decision: ", 1)[1] if "Decision: " in text else None
    hold_wins = [row("x. Decision: hold", "y. Decision: advance")] * 8
    advance_wins = [row("x. Decision: advance", "y. Decision: hold")] * 2
    same, none = [row("a. Decision: hold", "b. Decision: hold")], [row("no verdict", "Decision: hold")]
    rows, counts = dpo.balance_pairs(hold_wins + advance_wins + same + none, verdict)
    assert counts == {"advance > hold": 2, "hold > advance": 8, "repeat": 4}
    assert len(rows) == 12 + 2 * 3 and rows[:12] == hold_wins + advance_wins + same + none   # originals first, once
    won = [verdict(r["chosen"][0]["content"]) for r in rows if verdict(r["rejected"][0]["content"]) not in (None,
                                                                                                   verdict(r["chosen"][0]["content"]))]
    assert won.count("advance") == won.count("hold") == 8                   # both directions now weigh the same
    assert dpo.balance_pairs(hold_wins, verdict)[1]["repeat"] == 1          # one direction only: nothing to balance


def test_the_sft_term_is_the_chosen_answers_nll_per_token():
    lr_c, lr_r = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.5])
    plain = dpo.loss(lr_c, lr_r, 0.1)
    logps, tokens = torch.tensor([-10.0, -30.0]), torch.tensor([10, 20])
    assert dpo.loss(lr_c, lr_r, 0.1, sft_weight=0.5, chosen_logps=logps, chosen_tokens=tokens).item() == \
        pytest.approx(plain.item() + 0.5 * 40 / 30)
    with pytest.raises(ValueError, match="NLL per token"):
        dpo.loss(lr_c, lr_r, 0.1, sft_weight=1.0)


def test_trl_gets_no_pair_it_would_drop_and_no_more_rows_than_training_sees():
    rows = [{"id": i} for i in range(10)]
    prompt_tokens = [5, 300, 10, 272, 7, 8, 9, 11, 12, 13]           # two fill a max_length of 272: TRL drops them
    kept, too_long = dpo.rows_trl_trains_on(rows, prompt_tokens, 272, seen=100, seed=0)
    assert too_long == 2 and [r["id"] for r in kept] == [0, 2, 4, 5, 6, 7, 8, 9]
    sample, _ = dpo.rows_trl_trains_on(rows, prompt_tokens, 272, seen=3, seed=0)
    again, _ = dpo.rows_trl_trains_on(rows, prompt_tokens, 272, seen=3, seed=0)
    assert len(sample) == 3 and sample == again and not {1, 3} & {r["id"] for r in sample}
    with pytest.raises(ValueError):                                   # a length for every row, or a clear error
        dpo.rows_trl_trains_on(rows, prompt_tokens[:-1], 272, seen=3, seed=0)
