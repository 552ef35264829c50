"""The held-out scale relative to where training is heading (lamina.torch.scale_search's module doc)."""
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from torch import nn

import lamina.torch as lt
from lamina.torch.likelihoods import Classification, Gaussian
from lamina.torch.penalty import Regularizer
from lamina.torch.grid_minimum import refined_minimum
from lamina.torch.scale_search import HeldoutScale, joint_scale_search, weight_scale_search


def _standardized(X):
    return ((X - X.mean(0)) / X.std(0)).astype(np.float32)


def _penalties(reg):
    return (0.5 * reg.delta.double() * reg.sq_distances().double() / reg.n_data).detach().numpy()


def _converged_logistic(delta):
    """Multinomial logistic regression on iris, trained by L-BFGS to the optimum of
    mean NLL + 1/(2N) δ ‖W‖² (bias unregularized)."""
    X, y = load_iris(return_X_y=True)
    X, y = torch.as_tensor(_standardized(X)), torch.as_tensor(y)
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    reg = Regularizer(net, len(y), delta)
    opt = torch.optim.LBFGS(net.parameters(), max_iter=500, tolerance_grad=1e-10, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(X), y) + reg.l2_term()
        loss.backward()
        return loss
    for _ in range(5):
        opt.step(closure)
    return net, reg, (X, y)


@pytest.mark.parametrize("delta", [0.3, 3.0])
def test_the_penalized_training_objective_is_heading_nowhere_at_its_optimum(delta):
    """At a converged penalized optimum the derivative along c·W vanishes, so c_eq = 1 and the
    relative criterion is the held-out one; the training NLL alone still asks for larger weights."""
    net, reg, data = _converged_logistic(delta)
    lik = Classification()
    heading = weight_scale_search(net, reg, lik, data, log_range=1.0, penalties=_penalties(reg))
    assert abs(heading) < 0.02
    assert weight_scale_search(net, reg, lik, data, log_range=1.0) > 0.05   # the NLL alone: larger weights


def test_the_search_with_penalties_minimizes_nll_plus_the_scaled_l2_term():
    """Against a dense grid of the same objective, NLL(c·W) + c²·P, on a network off its optimum."""
    net, reg, (X, y) = _converged_logistic(1.0)
    with torch.no_grad():
        net.weight.mul_(0.6)
    penalties = _penalties(reg)
    lik = Classification()
    found = weight_scale_search(net, reg, lik, (X, y), log_range=1.0, penalties=penalties)
    saved = net.weight.detach().clone()
    grid, values = np.linspace(-1, 1, 2001), []
    with torch.no_grad():
        for log_c in grid:
            net.weight.copy_(saved * math.exp(log_c))
            values.append(float(nn.functional.cross_entropy(net(X), y)) + penalties.sum() * math.exp(2 * log_c))
        net.weight.copy_(saved)
    assert found == pytest.approx(grid[int(np.argmin(values))], abs=0.01)
    assert found > 0.1   # weights shrunk by 0.6 from the optimum: heading back up


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh, nn.GELU])
@pytest.mark.parametrize("epochs, delta", [(2, 1.0), (20, 0.01), (20, 10.0), (80, 1.0)])
def test_the_joint_grid_search_agrees_with_two_brent_searches(activation, epochs, delta):
    """(log c*_held, log c_eq) from one grid of nine scales and a parabolic refinement, against
    Brent's bounded search of each (scipy) over the same range: the ratio the update uses within
    0.02 wherever it is below 0.4 in log (above, every update is clipped anyway), and a minimum at
    the end of the range reported there (pinned) by both."""
    X, y = load_digits(return_X_y=True)
    X, y = torch.as_tensor((X / 16).astype(np.float32)), torch.as_tensor(y)
    torch.manual_seed(epochs)
    net = nn.Sequential(nn.Linear(64, 64), activation(), nn.Linear(64, 10))
    lt.tune(net, (X[:300].numpy(), y[:300].numpy()), likelihood="classification", tuner="fixed", delta=delta,
            epochs=epochs, lr=3e-3, batch_size=64, seed=0)
    reg, lik = Regularizer(net, 200, delta), Classification()
    held, train = (X[300:400], y[300:400]), (X[:256], y[:256])
    penalties = _penalties(reg)
    brent = (weight_scale_search(net, reg, lik, held, log_range=1.0),
             weight_scale_search(net, reg, lik, train, log_range=1.0, penalties=penalties))
    before = [p.detach().clone() for p in net.parameters()]
    joint = joint_scale_search(net, reg, lik, held, train, float(reg.l2_term().detach()))
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))   # the model is left unchanged
    for b, j in zip(brent, joint):
        assert (abs(b) > 0.98) == (abs(j) > 0.98)
    if abs(brent[0] - brent[1]) < 0.4:
        assert joint[0] - joint[1] == pytest.approx(brent[0] - brent[1], abs=0.02)


def test_the_refined_grid_minimum():
    """Exact for a parabola (one refinement); the end of the grid where the minimum lies beyond it;
    inside the last interval when it lies there."""
    grid = np.linspace(-1, 1, 9)
    calls = []

    def parabola(x):
        calls.append(x)
        return (x - 0.3) ** 2
    assert refined_minimum(parabola, grid, parabola(grid)) == pytest.approx(0.3)
    assert refined_minimum(lambda x: -x, grid, -grid) == 1.0
    assert refined_minimum(lambda x: (x + 1.5) ** 2, grid, (grid + 1.5) ** 2) == -1.0
    quartic = lambda x: (x - 0.9) ** 4 + 0.1 * (x - 0.9) ** 2   # noqa: E731
    assert refined_minimum(quartic, grid, quartic(grid)) == pytest.approx(0.9, abs=0.03)


def test_penalties_are_refused_with_a_gaussian_likelihood_and_train_sample_with_directions():
    net = nn.Linear(2, 1)
    reg = Regularizer(net, 4)
    x = torch.ones(4, 2)
    with pytest.raises(ValueError, match="penalties"):
        weight_scale_search(net, reg, Gaussian(), (x, x[:, 0]), penalties=np.ones(1))
    with pytest.raises(ValueError, match="train_sample"):
        HeldoutScale(net, reg, Classification(), (x, torch.zeros(4, dtype=torch.long)), burn_in=1, update_every=1,
                     directions=np.ones((1, 1)), train_sample=(x, torch.zeros(4, dtype=torch.long)))


def _digits(n=300):
    X, y = load_digits(return_X_y=True)
    return (X[:n] / 16.0).astype(np.float32), y[:n]


def test_the_default_runs_it_for_a_classifier_and_not_for_batchnorm_or_a_regression():
    X, y = _digits()
    # lr 1e-2: the training rows leave chance in the first epoch, before the first update (rows at chance
    # halve δ without running the criterion: HeldoutScale._crushed)
    kwargs = dict(tuner="heldout", epochs=6, lr=1e-2, batch_size=64, seed=0)
    torch.manual_seed(0)
    mlp = lt.tune(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), (X, y),
                  likelihood="classification", **kwargs)
    assert mlp.info["relative"] is True and len(mlp.info["log_equilibrium"]) == mlp.info["n_updates"] > 0
    bn = lt.tune(nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10)), (X, y),
                 likelihood="classification", **kwargs)
    assert bn.info["relative"] is False and bn.info["log_equilibrium"] == []
    target = (X @ np.linspace(-1, 1, 64)).astype(np.float32)
    regression = lt.tune(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1)), (X, target),
                         likelihood="regression", **kwargs)
    assert regression.info["relative"] is False
    off = lt.tune(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), (X, y),
                  likelihood="classification", relative=False, **kwargs)
    assert off.info["relative"] is False


@pytest.mark.parametrize("bad, match", [("maybe", "relative must be"), (1, "relative must be")])
def test_a_bad_relative_is_refused_naming_it(bad, match):
    X, y = _digits(60)
    with pytest.raises(ValueError, match=match):
        lt.tune(nn.Linear(64, 10), (X, y), likelihood="classification", tuner="heldout", epochs=2, relative=bad)


def test_relative_true_is_refused_for_a_regression():
    X, _ = _digits(60)
    with pytest.raises(ValueError, match="relative=True needs a classification"):
        lt.tune(nn.Linear(64, 1), (X, X[:, 3].copy()), likelihood="regression", tuner="heldout", epochs=2,
                relative=True)


def test_an_under_trained_network_is_not_read_as_over_regularized():
    """A SiLU MLP on 200 breast-cancer samples trained for 30 epochs. While the network is still
    under-confident the held-out c* > 1 and the plain criterion lowered δ at every update (seed 2:
    to a ninth of the relative criterion's δ), although by the end of the run the network overfits:
    test NLL 0.135, 0.146, 0.250 on seeds 0–2 against 0.121, 0.106, 0.132 with the relative criterion
    (since the last update falls on the calibration's last epoch, the first after epoch 4 instead of 2:
    0.147, 0.157, 0.187 against 0.100, 0.090, 0.122). The training objective is heading for larger
    weights too (c_eq > 1: log c_eq 0.075–0.10 at the first update) and δ stays higher."""
    from sklearn.model_selection import train_test_split
    X, y = load_breast_cancer(return_X_y=True)
    gains = []
    for seed in range(3):
        Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=200, random_state=seed, stratify=y)
        mean, std = Xtr.mean(0), Xtr.std(0) + 1e-8
        Xtr, Xte = ((Xtr - mean) / std).astype(np.float32), ((Xte - mean) / std).astype(np.float32)

        def run(relative):
            torch.manual_seed(seed)
            net = nn.Sequential(nn.Linear(30, 128), nn.SiLU(), nn.Linear(128, 64), nn.SiLU(), nn.Linear(64, 2))
            return lt.tune(net, (Xtr, ytr), likelihood="classification", epochs=30, lr=3e-3, batch_size=128,
                           seed=seed, relative=relative)
        plain, relative = run(False), run("auto")
        assert relative.info["relative"] and relative.info["log_equilibrium"][0] > 0.05   # heading for larger weights
        assert all(r > p for r, p in zip(relative.lambdas.values(), plain.lambdas.values()))
        gains.append(lt.evaluate(plain.model, (Xte, yte))["nll"] - lt.evaluate(relative.model, (Xte, yte))["nll"])
    assert min(gains) > 0 and np.mean(gains) > 0.03
