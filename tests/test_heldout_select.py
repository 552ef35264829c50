"""The held-out choice between one common scale and a split between layers."""
import pytest
import torch
from torch import nn

import lamina.torch as lt
from lamina.torch.heldout_budget import calibration_epochs, continued_epochs, search_steps
from lamina.torch.heldout_select import Calibration, adopt, choose, classifies_all, heldout_losses, twin
from lamina.torch.likelihoods import Classification, Gaussian
from lamina.torch.scale_search import passes_per_update


def _calibration(weight, likelihood=None):
    net = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    return Calibration(net, likelihood or Classification(), None, opt, None, None)


def _val():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(200, 2, generator=generator)
    return X, (X[:, 0] < X[:, 1]).long()


def test_the_split_is_kept_only_when_it_beats_one_scale_beyond_the_gate():
    val = _val()
    good = _calibration([[3.0, -3.0], [-3.0, 3.0]])     # class 1 when x0 < x1: right
    poor = _calibration([[-0.3, 0.3], [0.3, -0.3]])     # wrong
    assert choose(poor, [good], val)[0] == 0
    assert choose(good, [poor], val)[0] == -1
    best, numbers = choose(good, [good], val)
    assert best == -1 and numbers["split_kept"] is False and numbers["paired_se"] == 0.0   # a tie keeps one scale
    # a gate so large that no finite advantage clears it
    assert choose(poor, [good], val, gate=1e9)[0] == -1
    with pytest.raises(ValueError, match="gate"):
        choose(poor, [good], val, gate=-1)


def test_choose_takes_the_best_eligible_rival_and_names_it():
    val = _val()
    good = _calibration([[3.0, -3.0], [-3.0, 3.0]])
    better = _calibration([[6.0, -6.0], [-6.0, 6.0]])   # same sign, sharper: lower NLL on separable data
    poor = _calibration([[-0.3, 0.3], [0.3, -0.3]])
    best, numbers = choose(poor, [good, better], val, labels=["split", "rule x"])
    assert best == 1 and numbers["chosen"] == "rule x" and numbers["split_kept"] is False
    assert [r["label"] for r in numbers["rivals"]] == ["split", "rule x"]
    assert numbers["rivals"][1]["heldout_nll"] < numbers["rivals"][0]["heldout_nll"] < numbers["heldout_nll_common"]
    # rivals worse than the common calibration are never chosen
    best, numbers = choose(better, [poor, good], val)
    assert best == -1 and numbers["chosen"] == "common"
    with pytest.raises(ValueError, match="rivals"):
        choose(poor, [], val)


def test_rival_rules_compete_and_are_counted_in_the_cost():
    torch.manual_seed(0)
    X = torch.randn(120, 4)
    y = (X[:, 0] - X[:, 1] > 0).long()
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))   # tanh: a split is identified
    result = lt.tune(net, (X, y), epochs=12, batch_size=32, seed=0, rivals=("per_element",), per_direction=True,
                     merge_at=0.5)
    selection = result.info["selection"]
    assert [r["label"] for r in selection["rivals"]] == ["split", "one scale, rule per_element"]
    # 36 held-out samples: two folds; each of the three kinds calibrates on both (70 % for half
    # the epochs), and the held-out samples of both folds choose; then the rest of the run's steps on
    # all data: 12 · 4 − 6 · 3 = 30 steps of 4 batches, 8 epochs (the split's epochs are 3 batches)
    assert result.info["merge_epoch"] == 6 and len(result.info["folds"]) == 2
    assert selection["n_heldout"] == 2 * 36 and result.info["continued_epochs"] == 8
    assert result.compute.fits == pytest.approx(6 * 0.5 * 84 / 120 + 8 / 12, rel=1e-6)
    # without the split calibration (the default): the default's scale against the rival only
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    result = lt.tune(net, (X, y), epochs=12, batch_size=32, seed=0, rivals=("per_element",), merge_at=0.5)
    assert [r["label"] for r in result.info["selection"]["rivals"]] == ["one scale, rule per_element"]
    assert result.compute.fits == pytest.approx(4 * 0.5 * 84 / 120 + 8 / 12, rel=1e-6)
    # by default (merge_at="auto") the three kinds × two folds are shortened to stay within 1.4 fits
    # (1.5, less 0.1 for the searches and probes beside the epochs)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    result = lt.tune(net, (X, y), epochs=60, batch_size=32, seed=0, rivals=("per_element",), per_direction=True)
    assert len(result.info["selection"]["rivals"]) == 2 and len(result.info["folds"]) == 2
    # an epoch on 84 of 120 samples in batches of 32 takes 3 of 4 steps: it costs 0.75 of a full one,
    # and the searches of an update (eleven passes over the 36 held-out and 84 training rows) every
    # update_every epochs add their share (the split calibrations' Brent searches counted as these)
    every = result.info["update_every"]
    assert every == 5   # the searches' 6.9 steps would have cost 2.3 times the 3 steps of one epoch
    update_cost = search_steps(passes_per_update(True), 36 + 84, 32) / 4
    first = result.info["merge_epoch"]   # (the continued run makes up the split's 3-of-4 steps: stretch 4/3)
    assert (first, True) == calibration_epochs(60, 30, 6, 0.75, update_cost, 4, every, 4 / 3) and first == 3
    assert result.info["merge_at"] == first / 60 and result.info["continued_epochs"] == continued_epochs(60, 3, 4 / 3) == 58
    assert result.compute.fits == pytest.approx((6 * first * 84 / 120 + 58) / 60)
    assert result.info["budget_fits"] <= 1.4


def test_heldout_losses_are_the_per_sample_nll():
    val = _val()
    run = _calibration([[1.0, 0.0], [0.0, 1.0]])
    losses = heldout_losses(run.model, run.likelihood, val)
    assert losses.shape == (200,)
    with torch.no_grad():
        expected = float(Classification().nll(run.model(val[0]), val[1]))
    assert float(losses.mean()) == pytest.approx(expected, rel=1e-6)
    gaussian = Gaussian(precision=4.0)
    net = nn.Linear(2, 1)
    target = torch.randn(200)
    per_sample = heldout_losses(net, gaussian, (val[0], target))
    with torch.no_grad():
        expected = float(gaussian.nll(net(val[0]), target))
    assert float(per_sample.mean()) == pytest.approx(expected, rel=1e-5)


def test_adopt_moves_the_chosen_weights_and_noise_into_the_users_objects():
    model, likelihood = nn.Linear(2, 2, bias=False), Gaussian(precision=1.0)
    copy_model, copy_likelihood = twin(model, likelihood)
    chosen = _calibration([[2.0, 0.5], [0.5, 2.0]], copy_likelihood)
    chosen.model = copy_model
    chosen.model.load_state_dict({"weight": torch.tensor([[2.0, 0.5], [0.5, 2.0]])})
    with torch.no_grad():
        copy_likelihood.log_precision.fill_(1.5)
    adopt(model, likelihood, chosen)
    torch.testing.assert_close(model.weight, copy_model.weight)
    assert float(likelihood.log_precision) == pytest.approx(1.5)
    # the chosen run trained the user's model itself: nothing is loaded
    own = Calibration(model, likelihood, None, None, None, None)
    before = model.weight.detach().clone()
    adopt(model, likelihood, own)
    torch.testing.assert_close(model.weight, before)


def test_tune_keeps_the_same_numbers_when_one_scale_is_all_the_data_identify():
    """A ReLU chain identifies one direction: one calibration per fold, no selection, 0.85 fits
    with ``folds=1`` and a continued run, even when the split calibration is asked for; the ratios
    stay uniform."""
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(90, 3, generator=generator)
    y = (X.sum(1) > 0).long()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 2))
    result = lt.tune(net, (X, y), epochs=20, lr=1e-2, batch_size=30, seed=0, burn_in=2, update_every=2,
                     per_direction=True, folds=1, merge_at=0.5, refit=False)   # (an update every 2 epochs shortens "auto")
    assert "selection" not in result.info and result.compute.fits == pytest.approx(0.85)
    assert result.info["rule"] == "uniform" and len(set(result.lambdas.values())) == 1


def test_with_the_users_validation_data_both_calibrations_run_on_train_only():
    generator = torch.Generator().manual_seed(2)
    X = torch.randn(80, 3, generator=generator)
    y = (X[:, 0] * X[:, 1] > 0).long()
    val = (torch.randn(40, 3, generator=generator), None)
    val = (val[0], (val[0][:, 0] * val[0][:, 1] > 0).long())
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2))
    result = lt.tune(net, (X, y), val=val, epochs=12, lr=1e-2, batch_size=40, seed=0, burn_in=2, update_every=2,
                     per_direction=True)
    assert result.info["n_train"] == 80 and result.info["n_val"] == 40
    assert "selection" in result.info and result.compute.fits == pytest.approx(2.0)


def test_a_negative_split_gate_is_refused_by_name():
    X, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    with pytest.raises(ValueError, match="split_gate"):
        lt.tune(nn.Sequential(nn.Linear(3, 2)), (X, y), epochs=2, split_gate=-1.0)


def test_with_folds_the_held_out_samples_of_every_fold_choose_together():
    """A rival ahead on the first fold's held-out samples but behind on the second's is not
    kept: the paired differences of both folds are pooled."""
    val = _val()
    first, second = (val[0][:100], val[1][:100]), (val[0][100:], val[1][100:])
    good = _calibration([[3.0, -3.0], [-3.0, 3.0]])
    poor = _calibration([[-0.3, 0.3], [0.3, -0.3]])
    assert choose(poor, [good], first)[0] == 0                       # one fold alone: the rival wins
    best, numbers = choose([poor, good], [[good, poor]], [first, second])
    assert best == -1 and numbers["n_heldout"] == 200                # pooled: ahead once, behind once
    best, numbers = choose([poor, poor], [[good, good]], [first, second])
    assert best == 0 and numbers["chosen"] == "rival 0"
    with pytest.raises(ValueError, match="one entry per fold"):
        choose([poor, poor], [[good]], [first, second])
    with pytest.raises(ValueError, match="one entry per fold"):
        choose([poor, poor], [[good, good]], [first])


def _finetune_net():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


def test_auto_rivals_compete_one_scale_toward_the_prior_only_for_a_pretrained_body_with_a_new_head():
    from lamina.torch.transferability import auto_rivals as _auto_rivals
    net = _finetune_net()
    body = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("4.")}
    assert _auto_rivals("auto", "mup", net, None, body) == ("uniform",)
    assert _auto_rivals("auto", "mup", net, None, dict(net.state_dict())) == ()   # every group anchored
    assert _auto_rivals("auto", "mup", net, None, None) == ()                     # no prior mean
    assert _auto_rivals("auto", "uniform", net, None, body) == ()                 # ratios uniform already
    assert _auto_rivals(["per_element"], "mup", net, None, None) == ("per_element",)
    assert _auto_rivals("per_element", "mup", net, None, None) == ("per_element",)   # one name, not its letters
    with pytest.raises(ValueError, match="rivals must be one of"):
        _auto_rivals(["uniform", "nonsense"], "mup", net, None, None)


def test_fine_tuning_with_a_prior_mean_lets_the_held_out_samples_choose_between_two_corners():
    generator = torch.Generator().manual_seed(3)
    X = torch.randn(100, 4, generator=generator)
    y = (X[:, 0] - X[:, 2] > 0).long()
    torch.manual_seed(0)
    net = _finetune_net()
    body = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("4.")}
    result = lt.tune(net, (X, y), epochs=12, lr=1e-2, batch_size=25, seed=0, prior_mean=body)
    selection = result.info["selection"]
    assert [r["label"] for r in selection["rivals"]] == ["one scale, rule uniform"]
    assert result.info["rule"] == "mup" and selection["n_heldout"] == 2 * 30
    # two kinds × two folds, shortened to one epoch each (merge_at="auto"): an epoch on 70 of 100
    # samples in batches of 25 is 3 of 4 steps, and an update's searches (eleven passes over 100 rows)
    # cost 1.8 epochs — with one update each the calibrations alone are over 1.4 fits of 12 epochs
    assert result.info["merge_epoch"] == 1 and result.info["budget_fits"] > 1.4
    assert result.compute.fits == pytest.approx((4 * 1 * 0.7 + 11) / 12, rel=1e-6)
    uniform = len({round(v, 9) for v in result.lambdas.values()}) == 1   # μP ratios are never uniform
    assert uniform == (selection["chosen"] == "one scale, rule uniform")
    torch.manual_seed(0)
    alone = lt.tune(_finetune_net(), (X, y), epochs=12, lr=1e-2, batch_size=25, seed=0, prior_mean=body, rivals=())
    first = alone.info["merge_epoch"]   # two folds, shortened by their searches
    assert "selection" not in alone.info and alone.compute.fits == pytest.approx((2 * first * 0.7 + 12 - first) / 12)
    assert first < 6 and alone.info["budget_fits"] <= 1.4


def test_a_held_out_set_both_classify_without_error_cannot_choose_a_sharper_rival():
    """Both right on every held-out sample: the NLL then only rewards sharper logits, so the
    sharper rival is not eligible however small its paired error."""
    val = _val()
    good = _calibration([[3.0, -3.0], [-3.0, 3.0]])
    sharper = _calibration([[6.0, -6.0], [-6.0, 6.0]])
    assert classifies_all(good.model, good.likelihood, val)
    best, numbers = choose(good, [sharper], val)
    assert best == -1 and numbers["rivals"][0]["separable"] is True
    assert numbers["rivals"][0]["heldout_nll"] < numbers["heldout_nll_common"]   # lower, yet not chosen
    # one error on the held-out set and the comparison counts again
    X, y = val
    flipped = (X, torch.cat([1 - y[:1], y[1:]]))
    best, numbers = choose(good, [sharper], flipped)
    assert numbers["rivals"][0]["separable"] is False
    assert not classifies_all(good.model, Gaussian(), val)   # not a classifier: never "separable"


@pytest.mark.parametrize(("calibrations", "share", "refit", "expected", "shortened"), [
    (1, 0.7, False, 150, False),          # one calibration, then the continued run: 0.85 fits
    (2, 0.7, False, 150, False),          # two folds or two kinds: 1.2 fits
    (4, 0.7, False, 66, True),            # two kinds × two folds: 1.9 fits at half the epochs, 1.4 at 0.22
    (6, 0.7, False, 37, True),            # 0.4 / 3.2 of them
    (2, 1.0, False, 120, True),           # two folds on full-batch data: 1.5 steps at 0.5, 1.4 at 0.4
    (1, 0.7, True, 90, False),            # one calibration of 0.3, then a retraining: 1.21 fits
    (2, 0.7, True, 85, True),             # two folds: 0.4 / 1.4 of the epochs before the retraining
    (2, 1.0, True, 60, True),             # two folds on full-batch data: 0.2
])
def test_calibration_epochs_keep_the_calibrations_within_the_cost_budget(calibrations, share, refit, expected, shortened):
    """Without searches (update_cost 0) the most epochs of k calibrations on the share f of a full
    epoch: k·f·m + 1 − m ≤ 1.4, m ≤ 0.4 / (k·f − 1) before a continued run, k·f·m + 1 ≤ 1.4 before a
    retraining (in whole epochs of 300, from half of them or 0.3)."""
    from lamina.torch.heldout_budget import COST_BUDGET, OVERHEAD, budget_fits, calibration_epochs, merge_share
    assert merge_share("auto", False) == 0.5 and merge_share("auto", True) == 0.3   # refit: a shorter calibration
    assert merge_share(0.3, False) == 0.3 and merge_share(1.0, True) == 1.0        # a number is kept
    most = int(merge_share("auto", refit) * 300)
    first, cut = calibration_epochs(300, most, calibrations, share, 0.0, 20, 5, refit=refit)
    assert (first, cut) == (expected, shortened)
    assert budget_fits(300, first, calibrations, share, 0.0, 20, 5, refit=refit) <= COST_BUDGET - OVERHEAD + 1e-9
    if cut:   # the most: one epoch more is over
        assert budget_fits(300, first + 1, calibrations, share, 0.0, 20, 5, refit=refit) > COST_BUDGET - OVERHEAD
    # an update's searches count: one costing 2.6 epochs every 6 (a full-batch run on 60 samples)
    first, cut = calibration_epochs(300, 150, 2, 1.0, 2.6, 20, 6)
    assert cut and first == 73   # 73 + 9 · 5.2 ≤ 120 < 74 + 10 · 5.2 (the tenth update at epoch 74)
    # none fits: one epoch (and one update) each, over the budget
    assert calibration_epochs(12, 6, 4, 0.75, 2.0, 1, 5) == (1, True)


@pytest.mark.parametrize(("n_fit", "n_all", "batch_size", "expected"), [
    (35, 50, 128, 1.0),           # one full batch either way: the step, not the rows, is the cost
    (350, 500, 128, 0.75),        # 3 of 4 steps
    (91, 130, 128, 0.7),          # 1 of 2 steps, but the second full-data step holds 2 rows: samples
    (7000, 10000, 32, 0.7),       # many steps: the share of samples
    (90, 129, 128, 1.0),          # 129 samples are one step: a last batch of one joins the one before
])
def test_an_epoch_on_part_of_the_samples_costs_the_larger_of_its_sample_and_step_shares(n_fit, n_all, batch_size,
                                                                                        expected):
    from lamina.torch.data import Batches, steps_per_epoch
    from lamina.torch.heldout_budget import calibration_epochs, epoch_cost_share
    assert epoch_cost_share(n_fit, n_all, batch_size) == pytest.approx(expected)
    for n in (n_fit, n_all):   # the steps counted are the steps trained
        assert steps_per_epoch(n, batch_size) == len(Batches((torch.zeros(n, 1), torch.zeros(n)), Gaussian(),
                                                             batch_size, "cpu", 0))
    # fine-tuning on 50 samples in one batch, two kinds × two folds: 0.4/3 of the epochs (steps
    # 4·m + 1 − m = 1.4 fits, searches aside), where the share of samples alone allowed 0.22 (1.67 fits in steps)
    assert calibration_epochs(300, 150, 4, epoch_cost_share(35, 50, 128), 0.0, 20, 5) == (40, True)


@pytest.mark.parametrize("bad", [0, 1.5, -0.2, "half", True, None])
def test_merge_at_must_be_auto_or_a_fraction(bad):
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    X, y = torch.randn(40, 4), torch.randint(0, 2, (40,))
    with pytest.raises(ValueError, match="merge_at"):
        lt.tune(net, (X, y), epochs=2, merge_at=bad)


def test_a_rival_whose_lead_fades_since_the_midpoint_is_not_chosen():
    """The rival beats the common calibration at the end, but by less than half of its lead at the
    calibrations' midpoint: the common scale was catching up (module doc), so it is kept. A lead that
    held or grew since the midpoint, or a calibration without midpoint losses, chooses as before."""
    from lamina.torch.heldout_select import FADE
    val = _val()
    good, poor = _calibration([[3.0, -3.0], [-3.0, 3.0]]), _calibration([[-0.3, 0.3], [0.3, -0.3]])
    end = heldout_losses(poor.model, poor.likelihood, val) - heldout_losses(good.model, good.likelihood, val)
    lead = float(end.mean())
    assert choose(poor, [good], val)[0] == 0                    # no midpoint losses: chosen, as before

    def at_midpoint(calibration, losses):
        return Calibration(calibration.model, calibration.likelihood, None, None, None, None, losses.double())

    zeros = torch.zeros(val[1].shape[0], dtype=torch.float64)
    for then, kept in ((lead / FADE * 1.5, False), (lead / FADE * 0.9, True), (lead, True), (-lead, True)):
        best, numbers = choose(at_midpoint(poor, zeros + then), [at_midpoint(good, zeros)], val)
        row = numbers["rivals"][0]
        assert row["midpoint_lead"] == pytest.approx(then) and row["faded"] is (not kept)
        assert (best == 0) is kept and row["eligible"] is kept, then
    # the rule needs every calibration's midpoint: one missing and the lead is not judged
    best, numbers = choose(at_midpoint(poor, zeros + 10 * lead), [good], val)
    assert best == 0 and numbers["rivals"][0]["midpoint_lead"] is None


def test_midpoint_losses_are_recorded_at_their_epoch_only():
    from lamina.torch.heldout_select import MidpointLosses
    val = _val()
    good = _calibration([[3.0, -3.0], [-3.0, 3.0]])
    probe = MidpointLosses(good.model, good.likelihood, val, epoch=2)
    for epoch in range(2):
        probe.on_epoch_end(epoch, None)
    assert probe.losses is None
    probe.on_epoch_end(2, None)
    torch.testing.assert_close(probe.losses, heldout_losses(good.model, good.likelihood, val).double())


def test_each_rival_can_have_its_own_gate():
    """The split (more freedom: one scale per direction) must clear split_gate; a rival ratio rule,
    one common scale like the default's, is compared without a margin (gate 0)."""
    val = _val()
    poor, good = _calibration([[-0.3, 0.3], [0.3, -0.3]]), _calibration([[3.0, -3.0], [-3.0, 3.0]])
    better = _calibration([[6.0, -6.0], [-6.0, 6.0]])
    assert choose(poor, [better, good], val, gate=[1e9, 0.0])[0] == 1      # the split cannot clear its gate
    assert choose(poor, [better, good], val, gate=[0.0, 0.0])[0] == 0      # the lower held-out NLL wins
    with pytest.raises(ValueError, match="one per rival"):
        choose(poor, [better, good], val, gate=[0.0])
    with pytest.raises(ValueError, match="gate"):
        choose(poor, [good], val, gate=[-1.0])


def test_the_continued_run_makes_up_the_steps_the_split_did_not_make():
    """The calibration's epochs on 70 % of the samples take fewer batches than epochs on all of
    them; the continued run makes up the difference, so the whole run makes (to within rounding) as
    many optimizer steps as one training — a short run is still learning at every step it loses."""
    from lamina.torch.data import steps_per_epoch
    from lamina.torch.heldout_budget import continued_epochs, steps_stretch
    assert steps_stretch(350, 500, 128) == 4 / 3 and steps_stretch(42, 60, 128) == 1.0
    assert continued_epochs(10, 5, 4 / 3) == 6 and continued_epochs(10, 5, 1.0) == 5
    assert continued_epochs(10, 10, 4 / 3) == 0 and continued_epochs(2, 1, 3.0) == 2   # none after a whole run; ≥ 1
    torch.manual_seed(0)
    X = torch.randn(500, 4)
    y = (X[:, 0] > 0).long()
    for epochs in (4, 10, 31):
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        info = lt.tune(net, (X, y), epochs=epochs, batch_size=128, seed=0, refit=False).info
        first, rest = info["merge_epoch"], info["continued_epochs"]
        steps = first * steps_per_epoch(info["n_train"], 128) + rest * steps_per_epoch(500, 128)
        assert abs(steps - epochs * steps_per_epoch(500, 128)) <= steps_per_epoch(500, 128) / 2
