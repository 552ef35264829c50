"""The network tuners on a CUDA device, the data left on the host as numpy arrays (skipped, with
its reason, where torch sees no GPU: the check of a session with a lent device, beside
benchmarks/bench_gpu.py; it needs only torch, NumPy and scikit-learn, as the device image has them)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _mlp(sizes):
    from lamina.studies.shipped import relu_mlp

    torch.manual_seed(0)
    return relu_mlp(sizes).cuda()


@pytest.mark.parametrize("options", [{}, {"tuner": "evidence"}, {"tuner": "hypergradient"},
                                     {"penalty": "l1", "target_sparsity": 0.9}, {"penalty": "l0", "target_sparsity": 0.9}],
                         ids=["default", "evidence", "hypergradient", "l1-target", "l0-target"])
def test_tuners_train_on_the_gpu_from_host_data(options):
    import lamina.torch as lt
    from lamina.studies.shipped import digits_split

    Xtr, ytr, Xte, yte = digits_split(0, n_train=300)
    result = lt.tune(_mlp([64, 64, 10]), (Xtr, ytr), epochs=10, seed=0, **options)
    params = list(result.model.parameters())
    assert all(p.is_cuda and bool(torch.isfinite(p).all()) for p in params)
    assert lt.evaluate(result.model, (Xte, yte))["accuracy"] > 0.5
    if "target_sparsity" in options:
        weights = [p for n, p in result.model.named_parameters() if n.endswith("weight")]
        zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
        assert abs(zeros - 0.9) <= 0.005


def test_prior_mean_and_a_regression_on_the_gpu():
    from sklearn.datasets import load_diabetes

    import lamina.torch as lt
    from lamina.studies.shipped import digits_split

    Xtr, ytr, _, _ = digits_split(0, n_train=300)
    pretrained = {k: v.detach().cpu() for k, v in _mlp([64, 64, 10]).state_dict().items()}   # a host state_dict
    result = lt.tune(_mlp([64, 64, 10]), (Xtr, ytr), epochs=10, seed=0, prior_mean=pretrained)
    assert all(p.is_cuda for p in result.model.parameters())
    X, y = load_diabetes(return_X_y=True)
    X, y = ((X - X.mean(0)) / X.std(0)).astype(np.float32), ((y - y.mean()) / y.std()).astype(np.float32)
    result = lt.tune(_mlp([10, 32, 1]), (X, y[:, None]), likelihood="regression", epochs=20, seed=0)
    assert all(p.is_cuda and bool(torch.isfinite(p).all()) for p in result.model.parameters())


@pytest.mark.parametrize("argv", [
    ("--methods", "none", "heldout", "evidence", "cv", "--epochs", "3", "--hidden", "16"),
    ("--task", "digits-transfer", "--methods", "uniform", "heldout", "--epochs", "3"),
    ("--task", "sparsity-digits-cnn", "--methods", "global", "lamina-l1", "--sparsities", "0.9", "--epochs", "5"),
    ("--task", "transformer-char", "--methods", "none", "lamina", "--steps", "20", "--chars", "20000",
     "--d-model", "16", "--layers", "1", "--context", "16", "--lm-batch-size", "8"),
], ids=["digits", "transfer", "sparsity", "transformer"])
def test_lamina_nn_on_the_gpu(tmp_path, capsys, argv):
    """``lamina nn --device cuda``: every kind of study runs its cells on the GPU (the studies need
    Optuna and SQLAlchemy, which the device image may lack: skipped there, with the reason)."""
    import argparse
    import json

    pytest.importorskip("optuna")
    from lamina.studies.commands import add_nn_parser

    parser = argparse.ArgumentParser()
    add_nn_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["nn", *argv, "--device", "cuda", "--seeds", "1", "--out", str(tmp_path), "--json"])
    code = args.run(args)
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["failed"] == [] and out["missing"] == []
