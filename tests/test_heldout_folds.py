"""Cross-fitted calibration in the default network tuner (``folds``): disjoint held-out parts,
δ = the geometric mean of the folds' δ, cost counted, bad input named."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import lamina.torch as lt  # noqa: E402
from lamina.torch import final_run, heldout  # noqa: E402
from lamina.torch.hypergradient import split_train  # noqa: E402
from lamina.torch.likelihoods import Classification  # noqa: E402


def _data(n=100, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, generator=generator)
    return X, (X[:, 0] - X[:, 1] > 0).long()


def _ids(part, column=0):
    return {int(i) for i in part[0][:, column].round().tolist()}


def test_folds_hold_out_disjoint_parts_of_one_shuffle_and_fold_zero_is_the_former_split():
    X = torch.arange(20, dtype=torch.float32)[:, None].repeat(1, 2)
    y = torch.zeros(20, dtype=torch.long)
    parts = [split_train((X, y), Classification(), torch.device("cpu"), 0.3, 7, fold=k) for k in range(3)]
    held = [_ids(val) for _, val in parts]
    assert [len(h) for h in held] == [6, 6, 6]
    assert not (held[0] & held[1]) and not (held[0] & held[2]) and not (held[1] & held[2])
    for fit_part, val in parts:
        assert _ids(fit_part) | _ids(val) == set(range(20)) and not (_ids(fit_part) & _ids(val))
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(7))
    assert parts[0][1][0][:, 0].tolist() == X[perm[:6], 0].tolist()          # fold 0 as before
    assert parts[0][0][0][:, 0].tolist() == X[perm[6:], 0].tolist()
    with pytest.raises(ValueError, match="fold 3"):
        split_train((X, y), Classification(), torch.device("cpu"), 0.3, 7, fold=3)
    for bad in (-1, 1.0, True):
        with pytest.raises(ValueError, match="fold must be"):
            split_train((X, y), Classification(), torch.device("cpu"), 0.3, 7, fold=bad)


def test_the_default_averages_the_folds_log_delta_and_counts_each_calibration(monkeypatch):
    seen = []
    real_fit = heldout.fit

    def spy(model, data, **kwargs):
        seen.append(_ids(data, column=3))
        return real_fit(model, data, **kwargs)

    monkeypatch.setattr(heldout, "fit", spy)
    monkeypatch.setattr(final_run, "fit", spy)   # the run on all the data
    X, y = _data()
    X[:, 3] = torch.arange(100, dtype=torch.float32)          # a sample's id, to see who trained on what
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    # (merge_at given: an update every 2 epochs on 4-step epochs would shorten "auto"'s calibrations)
    result = lt.tune(net, (X, y), epochs=20, lr=1e-2, batch_size=25, seed=0, burn_in=2, update_every=2, merge_at=0.5)
    folds = result.info["folds"]
    assert len(folds) == 2 and all(f["n_updates"] >= 1 for f in folds)
    for name, value in result.lambdas.items():
        assert value == pytest.approx(np.sqrt(folds[0]["lambdas"][name] * folds[1]["lambdas"][name]), rel=1e-5)
    assert folds[0]["lambdas"] != folds[1]["lambdas"]          # two different held-out parts: two roots
    first, second, merged = seen                                # two calibrations on 70, then all 100
    held_first, held_second = set(range(100)) - first, set(range(100)) - second
    assert len(held_first) == len(held_second) == 30 and not (held_first & held_second)
    assert merged == set(range(100))
    # each fold calibrates for half the epochs on 70 samples, then the network is retrained from its
    # initial weights for every epoch on all 100
    assert result.info["merge_epoch"] == 10 and result.info["continued_epochs"] == 20 and result.info["refit"]
    assert result.compute.fits == pytest.approx((2 * 10 * 0.7 + 20) / 20)
    # continued instead (refit=False): the run makes up the calibration's steps on all 100 (4 batches
    # of 25 an epoch, 3 on the 70): 20 · 4 − 10 · 3 = 50 steps, rounded to 12 epochs
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    result = lt.tune(net, (X, y), epochs=20, lr=1e-2, batch_size=25, seed=0, burn_in=2, update_every=2, merge_at=0.5,
                     refit=False)
    assert result.info["merge_epoch"] == 10 and result.info["continued_epochs"] == 12
    assert result.compute.fits == pytest.approx((2 * 10 * 0.7 + 12) / 20)


def test_one_fold_is_the_single_calibration_and_given_val_data_need_no_folds():
    X, y = _data()
    torch.manual_seed(0)
    result = lt.tune(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), (X, y), epochs=10, batch_size=25,
                     seed=0, folds=1)   # at most 3 epochs on 70 (0.3 of them), then all 10 on 100
    first = result.info["merge_epoch"]
    assert 1 <= first <= 3 and result.info["continued_epochs"] == 10
    assert len(result.info["folds"]) == 1 and result.compute.fits == pytest.approx((first * 0.7 + 10) / 10)
    assert result.lambdas == result.info["folds"][0]["lambdas"]
    Xv, yv = _data(40, seed=1)
    result = lt.tune(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), (X, y), val=(Xv, yv), epochs=10,
                     batch_size=25, seed=0)
    assert len(result.info["folds"]) == 1 and result.compute.fits == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_a_bad_folds_is_refused_by_name(bad):
    X, y = _data(20)
    with pytest.raises(ValueError, match="folds"):
        lt.tune(nn.Linear(4, 2), (X, y), epochs=2, folds=bad)


def test_more_folds_than_disjoint_held_out_parts_is_refused_by_name():
    X, y = _data(20)
    with pytest.raises(ValueError, match="folds × val_fraction"):
        lt.tune(nn.Linear(4, 2), (X, y), epochs=2, folds=4)          # 4 × 0.3 > 1


def test_auto_folds_cross_fit_only_small_held_out_parts():
    from lamina.torch.heldout_options import SMALL_HELDOUT, n_folds as _n_folds
    assert _n_folds("auto", 0.3, 100, given_val=False) == 2                 # 30 held out
    assert _n_folds("auto", 0.3, 500, given_val=False) == 1                 # 150 held out
    assert _n_folds("auto", 0.3, round(SMALL_HELDOUT / 0.3), given_val=False) == 1
    assert _n_folds("auto", 0.6, 50, given_val=False) == 1                  # two parts of 60 % do not fit
    assert _n_folds("auto", 0.3, 50, given_val=True) == _n_folds(3, 0.3, 50, given_val=True) == 1
    X, y = _data(200)                                                       # 60 held out: one calibration
    torch.manual_seed(0)
    result = lt.tune(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), (X, y), epochs=6, batch_size=50,
                     seed=0)   # at most 2 epochs on 140 (0.3 of 6), then all 6 on 200
    first = result.info["merge_epoch"]
    assert 1 <= first <= 2 and len(result.info["folds"]) == 1
    assert result.compute.fits == pytest.approx((first * 0.7 + 6) / 6)


def test_regression_folds_share_the_noise_precision_too(monkeypatch):
    """δ and the Gaussian noise precision β both come from held-out samples: the continued run
    starts from the geometric mean of the folds' β, as δ does."""
    seen = {}
    real_fit = heldout.fit

    def spy(model, data, **kwargs):
        if int(data[0].shape[0]) == 60:                         # the continued run, on all the data
            seen["start"] = float(kwargs["likelihood"].precision)
        return real_fit(model, data, **kwargs)

    monkeypatch.setattr(heldout, "fit", spy)
    monkeypatch.setattr(final_run, "fit", spy)   # the run on all the data
    generator = torch.Generator().manual_seed(3)
    X = torch.randn(60, 3, generator=generator)
    y = X[:, 0] - 0.5 * X[:, 1] + 0.3 * torch.randn(60, generator=generator)
    torch.manual_seed(0)
    result = lt.tune(nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1)), (X, y[:, None]),
                     likelihood="regression", tuner="heldout", epochs=20, lr=1e-2, batch_size=20, seed=0, burn_in=2,
                     update_every=2)
    folds = result.info["folds"]
    assert len(folds) == 2 and folds[0]["noise_precision"] != folds[1]["noise_precision"]
    assert seen["start"] == pytest.approx(np.sqrt(folds[0]["noise_precision"] * folds[1]["noise_precision"]),
                                          rel=1e-5)
