"""The tuner ``lamina.torch.tune`` runs when none is named (lamina.torch.default_tuner)."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import lamina.torch as lt
from lamina.torch.default_tuner import default_tuner


def _regression(n=96, features=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, features, generator=g)
    y = torch.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.2 * torch.randn(n, generator=g)
    return X, y


def _mlp(features=5, norm=None, bias=True):
    torch.manual_seed(0)
    layers = [nn.Linear(features, 16, bias=bias)] + ([norm(16)] if norm else []) + [nn.ReLU(), nn.Linear(16, 1)]
    return nn.Sequential(*layers, nn.Flatten(0))


def test_a_regression_gets_the_evidence_with_curvature_every_fourth_step():
    X, y = _regression()
    auto = lt.tune(_mlp(), (X, y), likelihood="regression", epochs=12, batch_size=32)
    named = lt.tune(_mlp(), (X, y), likelihood="regression", tuner="evidence", curvature_every=4, epochs=12,
                    batch_size=32)
    assert auto.method == "evidence" and auto.info["default"] == "evidence"
    assert auto.lambdas.keys() == named.lambdas.keys()
    assert all(np.isclose(float(auto.lambdas[k]), float(named.lambdas[k])) for k in auto.lambdas)
    assert "default" not in named.info   # a tuner the user named is not reported as the default


def test_a_classifier_keeps_the_held_out_calibration():
    X, _ = _regression()
    y = (X[:, 0] > 0).long()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 2))
    result = lt.tune(net, (X, y), epochs=6, batch_size=32)
    assert result.method == "heldout" and result.info["default"] == "heldout"


@pytest.mark.parametrize("norm, bias", [(nn.BatchNorm1d, True), (nn.LayerNorm, False)])
def test_a_regression_with_a_scale_invariant_weight_gets_the_held_out_calibration(norm, bias):
    """The evidence cannot set the δ of a weight followed by batch normalization, and its γ count
    there starves the noise's degrees of freedom (β a quarter of the test precision measured).
    A LayerNorm after a Linear with a bias is not scale-invariant (the bias is not scaled)."""
    X, y = _regression()
    model = _mlp(norm=norm, bias=bias)
    model.eval()
    assert default_tuner(model, (X, y), "regression") == ("heldout", {})
    assert not model.training                              # the probe restores the mode
    assert default_tuner(_mlp(norm=nn.LayerNorm), (X, y), "regression")[0] == "evidence"
    result = lt.tune(_mlp(norm=norm, bias=bias), (X, y), likelihood="regression", epochs=6, batch_size=32)
    assert result.method == "heldout"


def test_running_statistics_are_not_moved_by_the_probe():
    X, y = _regression()
    model = _mlp(norm=nn.BatchNorm1d)
    before = model[1].running_mean.clone()
    default_tuner(model, (X, y), "regression")
    assert torch.equal(model[1].running_mean, before)


def test_a_dataloader_is_probed_on_its_dataset_without_iterating_it():
    X, y = _regression()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32, shuffle=True)
    state = torch.random.get_rng_state()
    assert default_tuner(_mlp(norm=nn.BatchNorm1d), loader, "regression")[0] == "heldout"
    assert default_tuner(_mlp(), loader, "regression")[0] == "evidence"
    assert torch.equal(torch.random.get_rng_state(), state)   # no shuffle drawn


def test_a_target_sparsity_still_runs_on_the_held_out_core():
    X, y = _regression()
    result = lt.tune(_mlp(), (X, y), likelihood="regression", penalty="l1", target_sparsity=0.5, epochs=6,
                     batch_size=32)
    assert result.info["sparsity"]["overall"] == pytest.approx(0.5, abs=0.01)


def test_the_deprecated_method_keyword_with_the_default_tuner():
    X, y = _regression()
    with pytest.warns(DeprecationWarning):
        result = lt.tune(_mlp(), (X, y), likelihood="regression", method="fixed", epochs=2, batch_size=32)
    assert result.method == "fixed"
    with pytest.raises(ValueError, match="not both"):
        lt.tune(_mlp(), (X, y), likelihood="regression", tuner="none", method="fixed", epochs=2)


# review of the default tuner (each failed before its fix)

def test_the_probe_reads_features_given_as_lists_or_dataframes():
    """(X, y) as Python lists (or a DataFrame) is accepted by every tuner; the probe had passed the
    sliced list to the model as 64 positional arguments (TypeError)."""
    X, y = _regression()
    assert default_tuner(_mlp(), (X.tolist(), y.tolist()), "regression")[0] == "evidence"
    assert default_tuner(_mlp(norm=nn.BatchNorm1d), (X.numpy().tolist(), y.tolist()), "regression")[0] == "heldout"
    result = lt.tune(_mlp(), (X.tolist(), y.tolist()), likelihood="regression", epochs=2, batch_size=32)
    assert result.method == "evidence"


def test_an_unbatched_loader_gets_the_data_check_s_message():
    X, y = _regression()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=None)
    with pytest.raises(ValueError, match="must batch its samples"):
        lt.tune(_mlp(), loader, likelihood="regression", epochs=2)


def test_the_probe_keeps_each_module_s_training_mode():
    """A BatchNorm frozen in eval mode inside a model in training mode stays frozen (fit restores
    every module's mode; the probe had set them all to the model's; a DataLoader is not read by
    the data checks, so the probe was the only pass over it)."""
    X, y = _regression()
    model = _mlp(norm=nn.BatchNorm1d)
    model[1].eval()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32)
    assert default_tuner(model, loader, "regression")[0] == "heldout"
    assert model.training and not model[1].training


def test_reading_a_dataset_with_random_augmentation_leaves_the_global_rng():
    X, y = _regression()

    class Augmented(torch.utils.data.Dataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return X[i] + 0.01 * torch.randn(X.shape[1]), y[i]

    state = torch.random.get_rng_state()
    default_tuner(_mlp(), torch.utils.data.DataLoader(Augmented(), batch_size=32), "regression")
    assert torch.equal(torch.random.get_rng_state(), state)


def test_a_given_val_keeps_the_held_out_calibration():
    """val= is what heldout chooses δ on (the evidence only scored it, with a warning about a tuner
    the user had not named)."""
    X, y = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # (4 epochs leave the held-out loss at chance at both updates: that, and only that, is said)
        warnings.filterwarnings("ignore", message="the held-out calibration made no reading", category=RuntimeWarning)
        result = lt.tune(_mlp(), (X[:64], y[:64]), likelihood="regression", val=(X[64:], y[64:]), epochs=4,
                         batch_size=32)
    assert result.method == "heldout" and result.info["default"] == "heldout" and result.info["n_val"] == 32


def test_an_option_of_heldout_keeps_the_held_out_calibration():
    """heldout's own options had reached OnlineEvidence (TypeError: unexpected keyword argument)."""
    X, y = _regression()
    for option in ({"val_fraction": 0.25}, {"refit": True, "merge_at": 1}, {"folds": 1}):
        result = lt.tune(_mlp(), (X, y), likelihood="regression", epochs=4, batch_size=32, **option)
        assert result.method == "heldout" and result.info["default"] == "heldout"


def test_the_probe_leaves_the_gpu_generators(monkeypatch):
    """torch.manual_seed reseeds every GPU's generator, which the probe's fork (of the model's
    device only) does not restore: a CPU model's probe had reset the caller's CUDA streams."""
    X, y = _regression()
    bn, plain = _mlp(norm=nn.BatchNorm1d), _mlp()
    seeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", seeded.append)
    assert default_tuner(bn, (X, y), "regression")[0] == "heldout"
    assert default_tuner(plain, (X, y), "regression")[0] == "evidence"
    assert seeded == []


def test_one_training_row_gets_the_tuner_s_own_message():
    """With one row, the probe ran batch normalization in training mode on it and torch's
    'Expected more than 1 value per channel' came out; the probe now uses random rows, and the
    held-out tuner's check says what is wrong."""
    X, y = _regression()
    with pytest.raises(ValueError, match="need at least 2 training samples"):
        lt.tune(_mlp(norm=nn.BatchNorm1d), (X[:1], y[:1]), likelihood="regression", epochs=2)


def test_a_model_the_random_probe_rows_do_not_fit_gets_the_held_out_calibration():
    """A DataLoader over an iterable dataset is not read ahead: the probe makes random rows shaped
    for the first layer, which a model reshaping its input cannot take; the choice that runs
    everywhere (heldout) is made instead of an error."""
    class Reshaping(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = _mlp(features=6)

        def forward(self, x):   # (n, 2, 3) inputs: the random (n, 6) rows made for the first Linear fail
            return self.body(torch.cat([x[:, 0], x[:, 1]], dim=1))

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter([(torch.randn(2, 3), torch.randn(()))] * 8)

    loader = torch.utils.data.DataLoader(Stream(), batch_size=4)
    assert default_tuner(Reshaping(), loader, "regression") == ("heldout", {})
