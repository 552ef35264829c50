"""lamina.torch.transferability: do the pretrained features transfer? (a ridge readout's LOO error)."""
import numpy as np
import pytest
import torch

import lamina.torch as lt
from lamina.torch.likelihoods import Classification, Gaussian
from lamina.torch.transferability import (TransferCheck, check_transfer, fine_tuning_plan, fine_tuning_rules,
                                          readout_errors)


@pytest.mark.parametrize("n, d, classes", [(40, 5, 2), (30, 60, 3), (25, 8, 4)])
def test_readout_errors_are_the_leave_one_out_errors_of_the_best_ridge(n, d, classes):
    """Against refitting without each sample in turn (scikit-learn's Ridge, intercept unpenalized)."""
    from sklearn.linear_model import Ridge
    rng = np.random.default_rng(n + d)
    F = rng.standard_normal((n, d)) * rng.uniform(0.1, 10, d)
    y = np.arange(n) % classes
    rng.shuffle(y)
    errors = readout_errors(F, y)
    Z = (F - F.mean(0)) / F.std(0)       # the standardization is fixed on all n samples, as in readout_errors
    T = np.eye(classes)[y]
    s2 = np.linalg.svd(Z - Z.mean(0), compute_uv=False) ** 2
    best = None
    for c in np.logspace(-4, 4, 17):
        loo = np.array([np.sum((T[i] - Ridge(alpha=c * s2.mean()).fit(np.delete(Z, i, 0), np.delete(T, i, 0))
                                .predict(Z[i:i + 1])[0]) ** 2) for i in range(n)])
        best = loo if best is None or loo.mean() < best.mean() else best
    np.testing.assert_allclose(errors, best, rtol=1e-6, atol=1e-9)


def test_readout_errors_prefer_features_that_carry_the_labels():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 10))
    y = (np.tanh(X[:, :3]).sum(1) > 0).astype(int)
    assert readout_errors(X, y).mean() < readout_errors(rng.standard_normal((80, 10)), y).mean()
    assert readout_errors(X, np.zeros(80)) is None
    assert readout_errors(np.ones((80, 3)), y) is None                    # no feature varies
    with pytest.raises(ValueError, match="labels: expected one per row of features"):
        readout_errors(X, y[:-1])
    with pytest.raises(ValueError, match="features must be finite"):
        readout_errors(np.where(X > 2, np.nan, X), y)


def _task(name, seed):
    from lamina.studies.nn import load_task
    return load_task(name, seed)


def test_check_transfer_tells_the_two_fine_tuning_tasks_apart():
    task = _task("digits-finetune", 0)
    check = check_transfer(task.model, task.prior_mean, task.train, Classification())
    assert isinstance(check, TransferCheck) and check.head == "4" and check.n_samples == 100
    assert check.verdict == "transfer" and check.loss_features < min(check.loss_inputs, check.loss_untrained)
    # the prior mean, not the model's current weights, is read
    with torch.no_grad():
        for p in task.model.parameters():
            p.mul_(0.5)
    assert check_transfer(task.model, task.prior_mean, task.train, Classification()).gain == pytest.approx(check.gain)
    task = _task("digits-transfer", 0)     # features of digits 0–4 read 5–9 worse than the pixels
    check = check_transfer(task.model, task.prior_mean, task.train, Classification())
    assert check.verdict == "no transfer" and check.loss_features > check.loss_inputs


def test_check_transfer_applies_only_where_it_can():
    task = _task("digits-finetune", 0)
    model, prior, (X, y) = task.model, task.prior_mean, task.train
    assert check_transfer(model, None, (X, y), Classification()) is None
    assert check_transfer(model, prior, (X, y.double()), Gaussian()) is None          # a classifier's question
    assert check_transfer(model, prior, torch.utils.data.DataLoader(list(zip(X, y))), Classification()) is None
    assert check_transfer(model, prior, (X.long(), y), Classification()) is None      # not floating inputs
    assert check_transfer(model, {}, (X, y), Classification()) is None                 # three unanchored layers
    assert check_transfer(model, prior, (X, torch.zeros_like(y)), Classification()) is None   # one class


def test_check_transfer_spreads_its_samples_and_leaves_the_random_streams_alone():
    from sklearn.datasets import load_digits
    task = _task("digits-finetune", 0)
    X, y = load_digits(return_X_y=True)
    order = np.argsort(y, kind="stable")                   # sorted by class: the first 512 rows hold 3 classes
    train = (torch.as_tensor(X[order] / 16.0, dtype=torch.float32), torch.as_tensor(y[order]))
    state = torch.random.get_rng_state()
    check = check_transfer(task.model, task.prior_mean, train, Classification())
    assert torch.equal(torch.random.get_rng_state(), state)
    assert check.n_samples == 512 and check.verdict == "transfer"


def test_a_transfer_verdict_reverses_the_burden_of_proof():
    def check(gain):
        return TransferCheck(0.5, 0.5 + gain, 0.9, gain, 0.1, 50, "4")
    assert check(0.3).verdict == "transfer" and check(-0.3).verdict == "no transfer"
    assert check(0.1).verdict == "undecided"
    assert fine_tuning_rules("mup", ("uniform",), check(0.3)) == ("uniform", ("mup",))
    for kept in (None, check(0.1), check(-5.0)):     # a negative verdict is not acted on
        assert fine_tuning_rules("mup", ("uniform",), kept) == ("mup", ("uniform",))
    assert fine_tuning_rules("mup", ("per_element",), check(0.3)) == ("mup", ("per_element",))


def test_fine_tuning_plan_respects_rivals_given_by_the_user():
    task = _task("digits-finetune", 0)
    args = (task.model, None, task.prior_mean, task.train, Classification())
    rule, rivals, found = fine_tuning_plan("auto", "mup", *args)
    assert (rule, rivals, found.verdict) == ("uniform", ("mup",), "transfer")
    assert fine_tuning_plan(("uniform",), "mup", *args) == ("mup", ("uniform",), None)
    assert fine_tuning_plan("auto", "mup", task.model, None, None, task.train, Classification()) == ("mup", (), None)


def test_a_model_the_check_cannot_copy_leaves_the_choice_to_the_race(monkeypatch):
    import lamina.torch.transferability as transferability
    task = _task("digits-finetune", 0)

    def broken(model):
        raise TypeError("cannot pickle '_thread.lock' object")
    monkeypatch.setattr(transferability, "_untrained", broken)
    with pytest.warns(RuntimeWarning, match="could not check whether the pretrained features transfer"):
        plan = fine_tuning_plan("auto", "mup", task.model, None, task.prior_mean, task.train, Classification())
    assert plan == ("mup", ("uniform",), None)


def test_tune_reports_the_verdict_and_which_rule_must_prove_itself():
    task = _task("digits-finetune", 0)
    result = lt.tune(task.model, task.train, likelihood="classification", epochs=20, lr=3e-3, batch_size=128,
                     seed=0, prior_mean=task.prior_mean)
    assert result.info["transfer"]["verdict"] == "transfer" and result.info["rule"] == "uniform"
    assert [r["label"] for r in result.info["selection"]["rivals"]] == ["one scale, rule mup"]
    task = _task("digits-transfer", 0)
    result = lt.tune(task.model, task.train, likelihood="classification", epochs=20, lr=3e-3, batch_size=128,
                     seed=0, prior_mean=task.prior_mean)
    assert result.info["transfer"]["verdict"] == "no transfer" and result.info["rule"] == "mup"
    assert [r["label"] for r in result.info["selection"]["rivals"]] == ["one scale, rule uniform"]
