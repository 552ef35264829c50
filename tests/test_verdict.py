"""The verdict sentence of a study: one λ vs a λ per layer, paired over seeds."""
import json

from lamina.report.verdict import verdict


def _row(method, seed, value, lambdas, fits=1.0, finding=None):
    metrics = {"objective": value, "lambdas": lambdas, "fits": fits}
    if finding:
        metrics["identifiability"] = finding
    return {"cell": f"{method}/seed={seed}", "params": {"strategy": method, "seed": seed},
            "metrics": metrics, "state": "COMPLETE"}


def _study(per_layer_shift, noise=(0.0, 0.01, -0.01, 0.02, -0.02)):
    rows = []
    for seed, jitter in enumerate(noise):
        base = 0.2 + 0.05 * seed
        rows.append(_row("none", seed, base + 0.1, {"a": 0.0, "b": 0.0}))
        rows.append(_row("uniform", seed, base, {"a": 1.0, "b": 1.0}))
        rows.append(_row("cv", seed, base + 0.01, {"a": 0.3, "b": 0.3}, fits=66))
        rows.append(_row("fan_in", seed, base + per_layer_shift + jitter, {"a": 0.5, "b": 2.0},
                         finding="all 2 δ are identified: the split between groups can matter"))
    return rows


def test_a_clear_per_layer_gain_is_called_a_gain():
    text = verdict(_study(-0.2), "NLL")
    assert text.startswith("Verdict: a λ per layer helped")
    assert "'fan_in'" in text and "'uniform'" in text and "paired over 5 seeds" in text
    assert "1 vs 1 fits" in text


def test_noise_is_not_a_verdict():
    text = verdict(_study(-0.005), "NLL")
    assert "did not help beyond the seed-to-seed noise" in text
    assert verdict(_study(+0.2), "NLL").startswith("Verdict: one λ for all was better")


def test_kinds_come_from_the_lambdas_and_identifiability_is_quoted():
    rows = _study(-0.2)
    # a tuner whose λ came out equal counts as one λ, whatever its name
    rows += [_row("heldout", s, 0.1 + 0.05 * s, {"a": 2.0, "b": 2.0}) for s in range(5)]
    text = verdict(rows, "NLL")
    assert "best one-λ method 'heldout'" in text
    assert text.endswith("Identifiability: all 2 δ are identified: the split between groups can matter.")


def test_one_seed_says_so_without_a_standard_error():
    text = verdict(_study(-0.2, noise=(0.0,)), "NLL")
    assert "too few shared seeds to tell" in text and "paired over 1 seeds" in text and "nan" not in text


def test_no_verdict_without_both_kinds():
    rows = [r for r in _study(-0.2) if r["params"]["strategy"] != "fan_in"]
    assert verdict(rows) is None
    assert verdict([]) is None


def test_lamina_nn_prints_the_verdict_and_puts_it_in_the_report(tmp_path, capsys):
    from lamina.cli import main
    argv = ["nn", "--methods", "uniform", "fan_in", "--seeds", "2", "--epochs", "2", "--hidden", "8",
            "--out", str(tmp_path)]
    assert main(argv + ["--json"]) == 0
    sentence = json.loads(capsys.readouterr().out)["verdict"]
    assert sentence.startswith("Verdict:") and "Identifiability: only one combination of the 2 δ" in sentence
    page = (tmp_path / "report.html").read_text()
    assert "Verdict:" in page and "best per-layer method" in page


def test_cells_without_a_cost_in_fits_give_no_nan_and_no_warning():
    """Linear studies record no fits: the sentence had ended "at nan vs nan fits" (numpy warning)."""
    import warnings
    rows = _study(-0.2)
    for row in rows:
        del row["metrics"]["fits"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = verdict(rows, "NLL")
    assert "nan" not in text and "fits" not in text and "lower is better). Identifiability" in text


def test_methods_without_a_common_seed_give_no_nan():
    """Cells failed on complementary seeds: nothing to pair; the sentence had shown "Δ NLL = +nan"."""
    from lamina.report.verdict import sparsity_verdict
    rows = [_row("fan_in", s, 0.1, {"a": 0.5, "b": 2.0}) for s in (0, 1)]
    rows += [_row("uniform", s, 0.2, {"a": 1.0, "b": 1.0}) for s in (2, 3)]
    text = verdict(rows, "NLL")
    assert "too few shared seeds to tell" in text and "nan" not in text and "no seed in common" in text
    for row in rows:
        row["params"]["sparsity"] = 0.9
    text = sparsity_verdict(rows)
    assert "too few shared seeds to tell" in text and "nan" not in text


def test_sparsity_verdict_does_not_call_a_difference_it_shows_as_zero():
    """Errors equal up to rounding (a constant 3e-14 on every seed, spread 0) are shown as "+0":
    the sentence had called that "+0 ± 0" a loss ("was worse")."""
    from lamina.report.verdict import sparsity_verdict
    rows = []
    for method, value, lambdas in (("l1-layer", 0.5 + 2.0 ** -45, {"a": 1.0, "b": 3.0}),
                                   ("l1-one", 0.5, {"a": 1.0, "b": 1.0})):
        for seed in range(3):
            row = _row(method, seed, value, lambdas)
            row["params"]["sparsity"] = 0.9
            rows.append(row)
    text = sparsity_verdict(rows)
    assert "no difference beyond the noise, Δ error +0" in text and "was worse" not in text


def test_a_method_of_both_kinds_is_named_not_silently_dropped():
    """A tuner whose λ came out equal on one seed and apart on the others belongs to neither kind;
    it was left out of the sentence without a word although its metric was the best of all."""
    rows = _study(-0.2)
    rows += [_row("heldout", s, 0.01, {"a": 1.0, "b": 1.0} if s == 0 else {"a": 1.0, "b": 3.0}) for s in range(5)]
    text = verdict(rows, "NLL")
    assert "best per-layer method 'fan_in'" in text
    assert "Left out, one λ on some seeds and not on others (a λ per layer, or none): 'heldout'." in text


def test_the_transfer_finding_is_counted_over_seeds():
    rows = _study(-0.2)
    for row in rows:    # one verdict per seed, recorded by every cell of it
        row["metrics"]["transfer"] = "transfer" if row["params"]["seed"] < 4 else "undecided"
    text = verdict(rows, "NLL")
    assert text.endswith("leave-one-out): transfer on 4 of 5 seeds, undecided on 1 of 5 seeds.")
    assert "Pretrained features" not in verdict(_study(-0.2), "NLL")     # no prior mean: nothing said
