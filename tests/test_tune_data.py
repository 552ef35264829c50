"""lamina.torch.tune: data that do not fit the network are refused naming the argument, the seed
alone decides the result (Dropout included), and one epoch still trains on all the data."""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import lamina.torch as lt  # noqa: E402


def _mlp(n_in=5, n_out=3, dropout=0.0):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(n_in, 16), torch.nn.ReLU()]
    layers += [torch.nn.Dropout(dropout)] if dropout else []
    return torch.nn.Sequential(*layers, torch.nn.Linear(16, n_out))


def _classes(n=60, n_in=5, n_classes=3):
    generator = torch.Generator().manual_seed(1)
    return torch.randn(n, n_in, generator=generator), torch.arange(n) % n_classes


@pytest.mark.parametrize("where", ["train", "val"])
def test_features_that_do_not_fit_the_network_are_refused_naming_the_argument(where):
    """A raw torch 'mat1 and mat2 shapes cannot be multiplied' before."""
    X, y = _classes()
    wrong = (X[:, :4], y)
    train, val = (wrong, None) if where == "train" else ((X, y), wrong)
    with pytest.raises(ValueError, match=rf"{where}: the network's forward pass failed on a sample of shape \(4,\)"):
        lt.tune(_mlp(), train, val=val, epochs=2)


@pytest.mark.parametrize("targets, match", [
    (np.ones(40), r"y has 1 target value\(s\) per sample \(shape \(40,\)\) but the network has 3 outputs"),
    (np.ones((40, 2)), r"y has 2 target value\(s\) per sample .* the network has 3 outputs"),
    (np.where(np.arange(120) == 7, np.nan, 1.0).reshape(40, 3), "the regression targets y must be finite"),
])
def test_regression_targets_must_match_the_outputs_and_be_finite(targets, match):
    """A raw reshape RuntimeError, or a DivergenceError after a second of training (NaN), before."""
    X = torch.randn(40, 5)
    with pytest.raises(ValueError, match="train: " + match):
        lt.tune(_mlp(), (X, torch.as_tensor(targets, dtype=torch.float32)), likelihood="regression", epochs=2)


@pytest.mark.parametrize("options", [{}, {"penalty": "l1", "target_sparsity": 0.5}, {"tuner": "evidence"}])
def test_the_seed_decides_dropout_and_the_callers_generator_is_restored(options):
    """Dropout draws from torch's global generator, which tune did not seed: two calls with the same
    seed gave weights up to 0.55 apart (default tuner, L1 with a target, evidence)."""
    X, y = _classes()
    initial = _mlp(dropout=0.3)
    runs = []
    for disturb in (1, 2):
        torch.manual_seed(100 + disturb)   # the caller's generator in another state each time
        before = torch.get_rng_state()
        result = lt.tune(copy.deepcopy(initial), (X, y), epochs=6, batch_size=16, seed=4, **options)
        assert torch.equal(torch.get_rng_state(), before)
        runs.append([p.detach().clone() for p in result.model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    other = lt.tune(copy.deepcopy(initial), (X, y), epochs=6, batch_size=16, seed=5, **options)
    assert not all(torch.equal(a, b) for a, b in zip(runs[0], other.model.parameters()))


def test_one_epoch_ends_with_an_epoch_on_all_the_data():
    """epochs=1 spent its one epoch calibrating on 70 % of the samples, and the model never saw the
    rest (test NLL 62–89 % above plain Adam's on digits); now it calibrates, then retrains on all."""
    X, y = _classes(n=90)
    result = lt.tune(_mlp(), (X, y), epochs=1, batch_size=16)
    assert result.info["refit"] and result.info["merge_epoch"] == 1   # one calibration epoch, then the
    assert result.compute.epochs == 2 and result.info["continued_epochs"] == 1   # retraining from the initial weights
    assert lt.tune(_mlp(), (X, y), epochs=1, batch_size=16, refit=False).info["refit"]   # whatever refit says
    assert result.info["n_train"] < 90


def test_rounding_leaves_the_continued_run_an_epoch():
    """merge_at 0.95 of 5 epochs rounds to 5: the continued run on all data would get none."""
    X, y = _classes(n=90)
    result = lt.tune(_mlp(), (X, y), epochs=5, batch_size=16, merge_at=0.95, refit=False)
    assert result.info["merge_epoch"] == 4


def _pretrained_on_digits(classes):
    """A 64-32-5 ReLU MLP trained (plain Adam) on the digits of ``classes``, relabelled 0..4."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    keep = np.isin(y, classes)
    Xs, ys = X[keep], torch.as_tensor(np.searchsorted(classes, y[keep]))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(Xs), ys).backward()
        opt.step()
    return net, X, y


@pytest.mark.parametrize("target_classes, dropped", [([0, 1, 2, 3, 4], False), ([5, 6, 7, 8, 9], True)])
def test_a_readout_prior_that_predicts_no_better_than_a_constant_is_dropped(target_classes, dropped):
    """The whole state_dict of a head trained for digits 0–4 as the prior when fine-tuning on 5–9
    relabelled 0–4: the μP ratios pulled that head hard toward the wrong classes (test NLL 0.41–0.49
    against 0.19–0.22 without a prior, 60 images). Its anchor is now dropped, with a warning; a head
    of the same classes keeps its prior."""
    from lamina.torch.likelihoods import Classification
    from lamina.torch.prior_readout import drop_uninformative_readout
    net, X, y = _pretrained_on_digits([0, 1, 2, 3, 4])
    keep = np.flatnonzero(np.isin(y, target_classes))[-60:]   # the last images of each class: not trained on
    train = (X[keep], torch.as_tensor(np.searchsorted(target_classes, y[keep])))
    prior = {k: v.clone() for k, v in net.state_dict().items()}
    if dropped:
        with pytest.warns(UserWarning, match=r"prior_mean: .* no better than a constant .*2\.weight"):
            kept = drop_uninformative_readout(net, prior, train, Classification())
        assert "2.weight" not in kept and "0.weight" in kept   # biases are not penalized: their entries stay
    else:
        assert drop_uninformative_readout(net, prior, train, Classification()) is prior


def test_a_regression_readout_prior_is_kept_where_it_predicts():
    from lamina.torch.likelihoods import Gaussian
    from lamina.torch.prior_readout import drop_uninformative_readout
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    X = torch.randn(200, 3)
    prior = {k: v.clone() for k, v in net.state_dict().items()}
    informative = (X, net(X).detach().ravel() + 0.1 * torch.randn(200))
    assert drop_uninformative_readout(net, prior, informative, Gaussian()) is prior
    with pytest.warns(UserWarning, match="no better than a constant"):
        kept = drop_uninformative_readout(net, prior, (X, torch.randn(200)), Gaussian())
    assert "2.weight" not in kept and "0.weight" in kept


def test_pandas_data_with_a_prior_mean():
    """A DataFrame and a Series with ``prior_mean``: the readout check read them with ``torch.as_tensor``
    (``KeyError: 8`` from the Series' index)."""
    import pandas as pd   # a dev dependency: the suite always has it
    X, y = _classes()
    net = _mlp()
    result = lt.tune(net, (pd.DataFrame(X.numpy()), pd.Series(y.numpy())), epochs=3, batch_size=16,
                     prior_mean=copy.deepcopy(net.state_dict()))
    assert set(result.lambdas) == {"0.weight", "2.weight"}


@pytest.mark.parametrize("options", [{}, {"penalty": "l1", "target_sparsity": 0.5}])
def test_dataloaders_lamina_cannot_train_on_are_named(options):
    """Unbatched samples, an iterable dataset (no length: N scales the penalty) where training
    needs one, and batches that are not (X, y) pairs: each a message naming ``train``."""
    from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset
    X, y = torch.randn(40, 8), torch.randint(0, 3, (40,))

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(zip(X, y))

    class Records(Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, i):
            return {"x": X[i], "y": y[i]}

    loaders = [(DataLoader(TensorDataset(X, y), batch_size=None), "must batch its samples"),
               (DataLoader(Records(), batch_size=10), r"must yield \(X, y\) pairs, got a dict")]
    if options:   # the sparsity tuner trains on the loader itself: N must be known
        loaders.append((DataLoader(Stream(), batch_size=10), "a dataset with a length is needed"))
    for loader, message in loaders:
        net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
        with pytest.raises(ValueError, match=f"train: .*{message}"):
            lt.tune(net, loader, epochs=2, **options)


def test_what_only_training_finds_wrong_is_named():
    """A DataLoader's labels or targets (not read before training), a forward pass that returns a tuple, and a
    batch of one for BatchNorm: torch's own errors ("Target 4 is out of bounds", "shape '[32, 2]' is
    invalid", "'tuple' object has no attribute 'shape'", "Expected more than 1 value per channel") named
    neither the argument nor the fix."""
    from torch.utils.data import DataLoader, TensorDataset
    X, y = torch.randn(40, 8), torch.arange(40) % 2

    def mlp(outputs=2, norm=False):
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(8, 4), *([torch.nn.BatchNorm1d(4)] if norm else []),
                                   torch.nn.ReLU(), torch.nn.Linear(4, outputs))

    with pytest.raises(ValueError, match=r"y: class label 4 is out of range for a network with 2 outputs"):
        lt.tune(mlp(), DataLoader(TensorDataset(X, y + 3), batch_size=8), epochs=2)
    with pytest.raises(ValueError, match=r"y: 1 target value\(s\) per sample .* network has 2 outputs"):
        lt.tune(mlp(), DataLoader(TensorDataset(X, X[:, 0]), batch_size=8), likelihood="regression", epochs=2)

    class Pair(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(8, 2)

        def forward(self, x):
            return self.layer(x), None

    with pytest.raises(TypeError, match="model: the forward pass must return one tensor .* got a tuple"):
        lt.tune(Pair(), (X, y), epochs=2)
    with pytest.raises(ValueError, match="batch_size: a batch of 1 sample.* BatchNorm"):
        lt.tune(mlp(norm=True), (X, y), epochs=2, batch_size=1)


def test_dataloader_with_integer_features_trains_with_every_tuner():
    """Pixel counts as integers in a TensorDataset: cast to the model's dtype batch by batch, as
    for (X, y) pairs (every tuner had failed: 'mat1 and mat2 must have the same dtype')."""
    from torch.utils.data import DataLoader, TensorDataset
    torch.manual_seed(0)
    X, y = torch.randint(0, 16, (120, 8)), torch.randint(0, 3, (120,))
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    for tuner in ("heldout", "evidence", "hypergradient", "fixed", "cv"):
        net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
        options = {"grid": [0.1, 1.0], "folds": 2} if tuner == "cv" else {}
        result = lt.tune(net, loader, likelihood="classification", tuner=tuner, epochs=3, seed=0, **options)
        assert np.isfinite(list(result.lambdas.values())).all(), tuner
    assert set(lt.evaluate(result.model, loader)) == {"nll", "accuracy"}


def test_tuners_that_split_see_every_sample_of_a_drop_last_loader():
    """A tuner that holds samples out reads the loader's dataset once, in order: drop_last (and
    a shuffle) of the loader do not lose samples (200 samples, batches of 32: 8 had been lost)."""
    from torch.utils.data import DataLoader, TensorDataset

    from lamina.torch.data import all_samples, casting_loader
    X, y = torch.randn(200, 8), torch.randint(0, 3, (200,))
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, drop_last=True)
    Xa, ya = all_samples(loader)
    assert torch.equal(Xa, X) and torch.equal(ya, y)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    result = lt.tune(net, loader, likelihood="classification", epochs=2, seed=0)
    assert result.info["n_train"] == 140   # 70 % of 200, not of the 192 a drop_last pass yields
    cast = casting_loader(DataLoader(TensorDataset(X.long(), y), batch_size=32, drop_last=True), torch.float64)
    assert (cast.batch_size, cast.drop_last, len(cast)) == (32, True, 6)
    assert all(xb.dtype == torch.float64 and yb.dtype == torch.int64 for xb, yb in cast)


def test_val_given_to_a_tuner_that_does_not_select_on_it_is_scored_and_named():
    """evidence/fixed/none/cv choose δ without held-out data: a given val had been ignored without
    a word; now it is scored into info["val"] with a warning. The generic tuners select on it."""
    X, y = torch.randn(120, 8), torch.randint(0, 3, (120,))
    val = (torch.randn(40, 8), torch.randint(0, 3, (40,)))
    for tuner in ("evidence", "fixed", "none"):
        net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
        with pytest.warns(UserWarning, match=f"tuner '{tuner}' does not choose δ on val"):
            result = lt.tune(net, (X, y), tuner=tuner, epochs=2, seed=0, val=val)
        assert result.info["val"] == lt.evaluate(result.model, val)
    scores = []
    for given in (val, None):   # a generic tuner scores its trials on val where one is given
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
        result = lt.tune(net, (X, y), tuner="search", epochs=2, seed=0, val=given, n_trials=2)
        assert "val" not in result.info
        scores.append(result.info["cv_score"])
    assert scores[0] != scores[1]
