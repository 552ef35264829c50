"""The head's decay chosen among shadow copies of the head (lamina.torch.lm.shadow)."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from lamina.torch.lm import CharTransformer, LMConfig, LMRecipe, load_corpus, make_adamw, train_lm  # noqa: E402
from lamina.torch.lm.shadow import ShadowHeads, choose  # noqa: E402
from lamina.torch.lm.tuner import HeldoutDecayTuner, heldout_split, timescale_decay  # noqa: E402

TINY = dict(context=16, d_model=16, n_layers=2, n_heads=2)


def _lr(step):
    return 1e-2 * (0.3 + 0.7 * math.cos(step / 7) ** 2)


def test_batched_copies_follow_separate_adamw_heads_exactly():
    """Copy k is a head trained by torch.optim.AdamW(weight_decay=λ_k on the weight, 0 on the bias),
    gradient clipped per head, on the same rows and learning-rate schedule — also after keep(k)."""
    torch.manual_seed(0)
    head, decays = nn.Linear(6, 5), [0.0, 0.7, 4.0]
    copies = ShadowHeads(head, decays, _lr, clip_norm=0.05)
    references, optimizers = [], []
    for lam in decays:
        reference = nn.Linear(6, 5)
        reference.load_state_dict(head.state_dict())
        references.append(reference)
        optimizers.append(torch.optim.AdamW([{"params": [reference.weight], "weight_decay": lam},
                                             {"params": [reference.bias], "weight_decay": 0.0}],
                                            lr=_lr(0), betas=(0.9, 0.95)))

    def train(step, keep_all=True):
        h, y = torch.randn(40, 6), torch.randint(0, 5, (40,))
        copies.step(step, h, y)
        for reference, optimizer in zip(references, optimizers):
            for group in optimizer.param_groups:
                group["lr"] = _lr(step)
            optimizer.zero_grad()
            nn.functional.cross_entropy(reference(h), y).backward()
            torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.05)
            optimizer.step()

    for step in range(15):
        train(step)
    for k, reference in enumerate(references):
        assert torch.allclose(copies.weight[k], reference.weight, atol=1e-6)
        assert torch.allclose(copies.bias[k], reference.bias, atol=1e-6)
    # the decays act: the most decayed copy is the smallest
    norms = copies.weight.detach().norm(dim=(1, 2))
    assert norms[2] < norms[0]
    copies.keep(2)
    references, optimizers = references[2:], optimizers[2:]
    for step in range(15, 25):
        train(step)
    assert torch.allclose(copies.weight[0], references[0].weight, atol=1e-6)
    target = nn.Linear(6, 5)
    copies.copy_into(target)
    assert torch.equal(target.weight.detach(), copies.weight.detach()[0])


def test_choose_keeps_the_least_decay_that_the_heldout_windows_cannot_tell_from_the_best():
    rng = np.random.default_rng(1)
    base = rng.normal(2.0, 0.3, 48)
    tie = base + rng.normal(0.0, 0.002, 48)
    assert choose(np.stack([base + 0.2, tie, base, base + 0.1])) == 1
    assert choose(np.stack([base + 0.2, base + 0.05, base])) == 2
    assert choose(np.stack([base, base + 0.05, base + 0.2])) == 0
    # z = inf: the least decayed copy always; z = 0: the best mean
    assert choose(np.stack([base + 0.2, base]), z=math.inf) == 0
    assert choose(np.stack([tie, base]), z=0.0) == int(np.argmin([tie.mean(), base.mean()]))
    for bad in (np.ones(3), np.empty((2, 0)), np.array([[1.0, np.nan]])):
        with pytest.raises(ValueError, match="losses must be a finite"):
            choose(bad)
    with pytest.raises(ValueError, match="z must be a number >= 0"):
        choose(np.stack([base, tie]), z=-1.0)


def test_shadow_heads_name_bad_arguments():
    with pytest.raises(ValueError, match="decays must be a non-empty list of numbers >= 0"):
        ShadowHeads(nn.Linear(3, 2), [0.1, -1.0], _lr)
    with pytest.raises(ValueError, match="decays must be a non-empty"):
        ShadowHeads(nn.Linear(3, 2), [], _lr)
    with pytest.raises(ValueError, match="head must be an nn.Linear with a bias"):
        ShadowHeads(nn.Linear(3, 2, bias=False), [0.1], _lr)


def test_tuner_replaces_the_head_by_the_chosen_copy_and_counts_its_cost():
    corpus = load_corpus(max_chars=20_000)
    model = CharTransformer(LMConfig(corpus.vocab_size, **TINY), seed=0)
    recipe = LMRecipe(steps=40, warmup=4, batch_size=8)
    fit, held = heldout_split(corpus.train)
    optimizer = make_adamw(model, "nanogpt", recipe.lr, lam=0.01)
    tuner = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.01, seed=0, fit=fit, every=4,
                              heldout_windows=8)
    assert tuner.z == math.inf and tuner.shadow is not None   # the defaults
    run = train_lm(model, fit, corpus.val, optimizer, recipe, callbacks=[tuner])
    selection = tuner.shadow
    updates_before_merge = len([s for s in range(recipe.warmup, tuner.merge_step) if (s + 1) % 4 == 0])
    assert len(selection.records) == updates_before_merge and all(len(r) == 4 for r in selection.records)
    assert selection.decays == pytest.approx([m * timescale_decay(recipe) for m in (0, 1, 3, 10)])
    assert torch.equal(model.head.weight.detach(), selection.copies.weight.detach()[0])
    assert run.decays["head"] == pytest.approx(selection.decays[selection.chosen])
    # cost: the run, the copies' steps and one held-out forward pass per update
    per_step = 4.0 * 4 * corpus.vocab_size * 16 / (6.0 * selection.n_weights)
    assert run.runs > 1.0 + 0.5 * per_step * tuner.merge_step / recipe.steps
    with pytest.raises(ValueError, match="shadow_multiples must increase"):
        HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.01, shadow_multiples=(1.0, 0.3))
    with pytest.raises(ValueError, match="shadow_z must be a number >= 0"):
        HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.01, shadow_z=-1.0)


def test_without_an_update_before_the_merge_the_copies_are_compared_at_the_merge():
    corpus = load_corpus(max_chars=20_000)
    model = CharTransformer(LMConfig(corpus.vocab_size, **TINY), seed=1)
    recipe = LMRecipe(steps=12, warmup=2, batch_size=8)
    fit, held = heldout_split(corpus.train)
    tuner = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.01, seed=0, fit=fit, every=100,
                              heldout_windows=8)
    run = train_lm(model, fit, corpus.val, make_adamw(model, "nanogpt", recipe.lr, lam=0.01), recipe,
                   callbacks=[tuner])
    assert len(tuner.shadow.records) == 1 and tuner.shadow.chosen is not None
    assert math.isfinite(run.val_ppl)


def test_shadow_heads_default_is_on_for_a_model_with_a_head_and_bad_values_are_named():
    corpus = load_corpus(max_chars=20_000)
    model = CharTransformer(LMConfig(corpus.vocab_size, **TINY), seed=0)
    recipe = LMRecipe(steps=12, warmup=2, batch_size=8)
    fit, held = heldout_split(corpus.train)
    tuned = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.01, types=["attn.0"])
    assert tuned.shadow is not None          # "auto": the model has an untied head, tuned by its type or not
    off = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.01, shadow_heads=False)
    assert off.shadow is None
    with pytest.raises(ValueError, match="shadow_heads must be True, False or 'auto'"):
        HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.01, shadow_heads="yes")


class _TiedLM(nn.Module):
    """A language model whose output reuses the embedding: no untied head, no 'head' type."""

    def __init__(self, vocab):
        super().__init__()
        self.config = LMConfig(vocab, context=16, d_model=16, n_layers=1, n_heads=2)
        self.emb, self.mix = nn.Embedding(vocab, 16), nn.Linear(16, 16)

    def forward(self, idx):
        return torch.tanh(self.mix(self.emb(idx))) @ self.emb.weight.T


def test_a_model_without_a_head_trains_with_the_defaults_and_refuses_shadow_heads():
    """'auto' turns the copies off, and the held-out loss of the overfitting switch comes from the
    network's own output (the gap rule being off by default)."""
    from lamina.torch.lm.tuner import tuned_types
    corpus = load_corpus(max_chars=20_000)
    model = _TiedLM(corpus.vocab_size)
    recipe = LMRecipe(steps=20, warmup=2, batch_size=8)
    fit, held = heldout_split(corpus.train)
    tuner = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.01, fit=fit, every=4, heldout_windows=8)
    assert tuner.shadow is None and "head" not in tuned_types(model)
    run = train_lm(model, fit, corpus.val, make_adamw(model, {k: 0.01 for k in tuned_types(model)}, 3e-3), recipe,
                   callbacks=[tuner])
    assert math.isfinite(run.val_ppl) and len(tuner.overfit.means) == 4 and run.runs > 1.0
    with pytest.raises(ValueError, match="shadow_heads: the model has no 'head' type"):
        HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.01, shadow_heads=True)
