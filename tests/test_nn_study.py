"""`lamina nn`: a network study stored, resumable, reported — on tiny budgets."""
import argparse
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from lamina.studies.commands import add_nn_parser  # noqa: E402


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_nn_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["nn", *argv])


def run_json(capsys, *argv):
    args = parse(*argv)
    code = args.run(args)
    return code, json.loads(capsys.readouterr().out)


def test_digits_study_tiny_budget(tmp_path, capsys):
    code, out = run_json(capsys, "--methods", "none", "uniform", "evidence", "--seeds", "2", "--epochs", "3",
                         "--hidden", "16", "--out", str(tmp_path), "--json")
    assert code == 0 and out["failed"] == []
    assert sorted(row["method"] for row in out["results"]) == ["evidence", "none", "uniform"]
    assert all(row["seeds"] == 2 for row in out["results"])
    page = (tmp_path / "report.html").read_text()
    assert page.count("<img") >= 2 and "evidence" in page
    # resume: nothing reruns, same table
    code, again = run_json(capsys, "--methods", "none", "uniform", "evidence", "--seeds", "2", "--epochs", "3",
                           "--hidden", "16", "--out", str(tmp_path), "--json", "--resume")
    assert code == 0 and again["results"] == out["results"]
    # `lamina report` on the stored study writes the page `lamina nn` wrote: its verdict and its metric
    from lamina.studies.report_command import add_report_parser
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "--storage", str(tmp_path / "study.db"), "--out", str(tmp_path / "r")])
    assert args.run(args) == 0 and out["verdict"].startswith("Verdict")
    import html
    report = html.unescape((tmp_path / "r" / "report.html").read_text())
    assert out["verdict"] in report and "NLL" in report


def test_a_value_given_twice_is_refused_before_a_study_is_stored(tmp_path):
    args = parse("--methods", "none", "none", "--seeds", "1", "--epochs", "1", "--out", str(tmp_path), "--quiet")
    with pytest.raises(ValueError, match="the same cell twice: none/seed=0"):
        args.run(args)
    assert not (tmp_path / "study.db").exists()


def test_user_model_from_module_function(tmp_path, capsys):
    code, out = run_json(capsys, "--task", "nn_tasks:two_branch", "--methods", "none", "evidence",
                         "--seeds", "1", "--epochs", "4", "--out", str(tmp_path), "--json")
    assert code == 0 and len(out["results"]) == 2


def test_user_data_from_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 5))
    y = X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(90)
    np.savez(tmp_path / "data.npz", X_train=X[:60], y_train=y[:60], X_test=X[60:], y_test=y[60:])
    code, out = run_json(capsys, "--task", str(tmp_path / "data.npz"), "--methods", "none", "uniform",
                         "--seeds", "1", "--epochs", "3", "--hidden", "8", "--out", str(tmp_path / "o"), "--json")
    assert code == 0 and {"rmse"} <= set(out["results"][0])


def test_bad_task_and_method_are_named(tmp_path):
    with pytest.raises(SystemExit):
        parse("--methods", "magic")
    args = parse("--task", "nope.npz", "--methods", "none", "--seeds", "1", "--epochs", "1", "--out", str(tmp_path), "--quiet")
    with pytest.raises(ValueError, match="--task: no file"):
        args.run(args)
    args = parse("--task", "nn_tasks:missing", "--methods", "none", "--seeds", "1", "--epochs", "1",
                 "--out", str(tmp_path), "--quiet")
    assert args.run(args) == 1  # the cell raises; its error is stored and the command exits 1


def test_transfer_task_pulls_toward_the_pretrained_backbone():
    import torch

    from lamina.studies.nn import load_task
    from lamina.studies.transfer import pretrained_backbone
    task, again, other = load_task("digits-transfer", 0), load_task("digits-transfer", 0), load_task("digits-transfer", 1)
    X, y = task.train
    assert X.shape == (50, 64) and sorted(np.bincount(y.numpy()).tolist()) == [10] * 5
    from sklearn.datasets import load_digits
    n_target = int((load_digits().target >= 5).sum())
    assert task.test[0].shape[0] == n_target - 50 and set(task.test[1].tolist()) == {0, 1, 2, 3, 4}
    assert not set(map(tuple, X.tolist())) & set(map(tuple, task.test[0].tolist()))  # no training image in test
    backbone = pretrained_backbone()
    assert sorted(task.prior_mean) == sorted(backbone) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    state = task.model.state_dict()
    assert all(torch.equal(state[name], value) for name, value in backbone.items())
    # the head comes from the seed, whether or not the backbone was cached already
    assert torch.equal(state["4.weight"], again.model.state_dict()["4.weight"])
    assert not torch.equal(state["4.weight"], other.model.state_dict()["4.weight"])
    assert not torch.equal(X, other.train[0])


def test_finetune_task_holds_ten_classes_from_the_half_the_backbone_never_saw():
    from sklearn.datasets import load_digits

    from lamina.studies.nn import load_task
    from lamina.studies.transfer import _parts, pretrained_backbone
    task = load_task("digits-finetune", 0)
    X, y = task.train
    assert X.shape == (100, 64) and np.bincount(y.numpy()).tolist() == [10] * 10
    assert task.test[0].shape[0] == len(load_digits().target) - len(load_digits().target) // 2 - 100
    _, _, source, target, _, _ = _parts("digits-finetune")
    assert not set(source) & set(target) and len(source) + len(target) == 1797
    assert sorted(task.prior_mean) == sorted(pretrained_backbone("digits-finetune"))
    assert task.model[4].out_features == 10
    with pytest.raises(ValueError, match="task must be one of"):
        pretrained_backbone("digits-nope")


def test_fine_tuning_reaches_the_corner_its_features_want():
    """The two fine-tuning tasks want opposite corners of (δ_body, δ_head) (benchmarks/RESULTS.md,
    Issue 14): where the features transfer — their ridge readout predicts the targets better than
    the pixels' and the untrained body's (lamina.torch.transferability) — one δ toward μ for every
    layer is the rule the μP ratios (a weak pull on the body, a strong one on the head) must beat,
    and it stays, with a test NLL well below the μP ratios' alone; with the roles as without the
    check (the rival named explicitly), the held-out samples make the same choice. Where they do
    not transfer, the μP ratios stay."""
    import torch

    import lamina.torch as lt
    from lamina.studies.nn import load_task

    def tuned(name, seed, **options):
        task = load_task(name, seed)
        result = lt.tune(task.model, task.train, likelihood="classification", epochs=300, lr=3e-3,
                         batch_size=128, seed=seed, prior_mean=task.prior_mean, **options)
        with torch.no_grad():
            nll = float(torch.nn.functional.cross_entropy(result.model(task.test[0]), task.test[1]))
        return result, nll

    chosen, nll = tuned("digits-finetune", 0)
    alone, nll_alone = tuned("digits-finetune", 0, rivals=())
    raced, _ = tuned("digits-finetune", 0, rivals=("uniform",))
    assert chosen.info["transfer"]["verdict"] == "transfer" and chosen.info["rule"] == "uniform"
    assert chosen.info["selection"]["chosen"] == "common"                     # the μP ratios did not beat it
    assert raced.info["selection"]["chosen"] == "one scale, rule uniform"
    assert raced.lambdas == chosen.lambdas                                    # the same calibrations
    assert len(set(chosen.lambdas.values())) == 1
    assert alone.lambdas["4.weight"] > 100 * alone.lambdas["0.weight"]           # μP: the other corner
    assert nll < nll_alone - 0.05
    # (a held-out choice on 2 × 15 images: on the transfer task it keeps the μP ratios on all 20 seeds
    # since the fading-lead rule; benchmarks/RESULTS.md, "A fading lead")
    kept, _ = tuned("digits-transfer", 3)
    assert kept.info["transfer"]["verdict"] == "no transfer" and kept.info["selection"]["chosen"] == "common"


def test_transfer_study_identifies_every_layer(tmp_path, capsys):
    code, out = run_json(capsys, "--task", "digits-transfer", "--methods", "uniform", "fan_in", "heldout",
                         "--seeds", "2", "--epochs", "4", "--out", str(tmp_path), "--json")
    assert code == 0 and out["failed"] == [] and len(out["results"]) == 3
    # the prior mean breaks the ReLU chain's rescaling symmetry: the verdict says every δ is identified
    assert "all 3 δ are identified" in out["verdict"]
    # and that features of the digits 0–4 do not transfer to 5–9 (lamina.torch.transferability)
    assert "Pretrained features" in out["verdict"] and "do not transfer on 2 of 2 seeds" in out["verdict"]


def test_threads_per_worker(tmp_path, capsys, monkeypatch):
    """--threads 1 (the default) holds in the worker processes too, whatever the environment said."""
    import os

    import torch
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    before = torch.get_num_threads()
    try:
        code, out = run_json(capsys, "--task", "nn_tasks:one_thread_only", "--methods", "none", "uniform",
                             "--seeds", "1", "--epochs", "2", "--workers", "2", "--out", str(tmp_path), "--json")
        assert code == 0 and out["failed"] == [] and len(out["results"]) == 2
        assert os.environ["OMP_NUM_THREADS"] == "1" and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_device_option(tmp_path, capsys):
    """--device cpu leaves the cells' settings as they were without it (studies stored before the
    option resume) and gives the same numbers; a name torch does not know, a device this machine
    lacks, and meta are refused by argparse, naming the option (exit 2)."""
    from lamina.studies.nn import study_cells
    from lamina.studies.nn_sparsity import study_cells as sparsity_cells
    from lamina.studies.nn_transformer import study_cells as transformer_cells

    def params(cells):
        return [cell.params for cell in cells]

    nn_args = ("digits", ["none", "uniform"], 2)
    nn_kwargs = {"epochs": 5, "lr": 1e-3, "batch_size": 8}
    sparsity_args = ("sparsity-digits-mlp", ["LAMP"], [0.9], 1)
    lm_kwargs = {"steps": 10, "lr": 1e-3, "batch_size": 4, "chars": 20_000, "d_model": 16, "layers": 1,
                 "context": 16, "decay": 0.1}
    assert params(study_cells(*nn_args, **nn_kwargs, device="cpu")) == params(study_cells(*nn_args, **nn_kwargs))
    assert (params(sparsity_cells(*sparsity_args, **nn_kwargs, device="cpu"))
            == params(sparsity_cells(*sparsity_args, **nn_kwargs)))
    assert (params(transformer_cells("transformer-char", ["none"], 1, **lm_kwargs, device="cpu"))
            == params(transformer_cells("transformer-char", ["none"], 1, **lm_kwargs)))
    for cells in (study_cells(*nn_args, **nn_kwargs, device="cuda:1"),
                  sparsity_cells(*sparsity_args, **nn_kwargs, device="cuda:1"),
                  transformer_cells("transformer-char", ["none"], 1, **lm_kwargs, device="cuda:1")):
        assert {cell.params["device"] for cell in cells} == {"cuda:1"}   # a resume elsewhere is refused by name
    for bad, reason in [("gpu0", "is not a torch device"), ("cuda:97", "torch cannot use that device"),
                        ("meta", "hold no values")]:
        with pytest.raises(SystemExit) as exit:
            parse("--device", bad)
        err = capsys.readouterr().err
        assert exit.value.code == 2 and "--device" in err and reason in err, err
    argv = ("--methods", "none", "uniform", "--seeds", "1", "--epochs", "2", "--hidden", "8", "--json")
    code, on_cpu = run_json(capsys, *argv, "--out", str(tmp_path / "cpu"), "--device", "cpu")
    code_plain, plain = run_json(capsys, *argv, "--out", str(tmp_path / "plain"))
    assert code == code_plain == 0
    assert [row["NLL"] for row in on_cpu["results"]] == [row["NLL"] for row in plain["results"]]
    # the study stored on the CPU is not resumed on another device unnoticed
    from lamina.studies.opening import SettingsMismatchError, open_study
    from lamina.studies.storage import storage_spec

    options = {"cv": {"grid": [float(v) for v in np.logspace(-2, 2, 5)], "folds": 3}, "optuna": {"n_trials": 10}}
    elsewhere = study_cells("digits", ["none", "uniform"], 1, epochs=2, lr=3e-3, batch_size=128, hidden=(8,),
                            options=options, device="cuda:1")
    with pytest.raises(SettingsMismatchError, match='device: stored null, now "cuda:1"'):
        open_study("nn-digits", elsewhere, storage_spec(None, tmp_path / "cpu" / "study.db"), resume=True)


def test_a_cell_moves_its_model_and_prior_mean_to_the_device():
    """What ``--device`` does in a cell, checked on the 'meta' device, which every torch build has."""
    from lamina.studies.nn import load_task, on_device
    from lamina.studies.nn_sparsity import load

    task = on_device(load_task("digits-transfer", 0), "meta")
    assert {p.device.type for p in task.model.parameters()} == {"meta"}
    assert task.prior_mean and {v.device.type for v in task.prior_mean.values()} == {"meta"}
    assert task.train[0].device.type == "cpu"   # the data stay on the host
    assert {p.device.type for p in load("sparsity-digits-cnn", 0, device="meta")[0].parameters()} == {"meta"}
