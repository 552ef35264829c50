"""Weight decay per parameter type in an AdamW-trained character transformer (lamina.torch.lm)."""
import argparse
import html
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lamina.torch.lm import (CharTransformer, LMConfig, LMRecipe, adamw_groups, check_decoupled,  # noqa: E402
                             load_corpus, make_adamw, param_types, preset_decays, run_strategy, set_decays,
                             timescale_decay, train_lm)
from lamina.torch.lm.strategies import RuleDecay  # noqa: E402
from lamina.torch.lm.tuner import HeldoutDecayTuner, heldout_split, start_decay  # noqa: E402
from lamina.torch.rules import AlphaHillRule  # noqa: E402

TINY = dict(context=16, d_model=16, n_layers=2, n_heads=2)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(max_chars=20_000)


def tiny_model(corpus, seed=0):
    return CharTransformer(LMConfig(corpus.vocab_size, **TINY), seed=seed)


def test_param_types_cover_every_parameter_exactly_once(corpus):
    model = tiny_model(corpus)
    types = param_types(model)
    listed = [id(p) for named in types.values() for _, p in named]
    assert sorted(listed) == sorted(id(p) for p in model.parameters())
    assert list(types) == ["embedding", "attn.0", "mlp.0", "attn.1", "mlp.1", "head", "norm", "bias"]
    # any other module: every parameter once as well
    other = torch.nn.Sequential(torch.nn.Embedding(5, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 3))
    listed = [id(p) for named in param_types(other).values() for _, p in named]
    assert sorted(listed) == sorted(id(p) for p in other.parameters())
    assert set(param_types(other)) == {"embedding", "norm", "matrix.2", "bias"}


def test_nanogpt_preset_decays_only_matrices(corpus):
    model = tiny_model(corpus)
    groups = adamw_groups(model, "nanogpt", lam=0.3)
    embeddings = {id(model.tok_emb.weight), id(model.pos_emb.weight)}
    for group in groups:
        for p in group["params"]:
            is_matrix = p.ndim == 2 and id(p) not in embeddings
            assert group["weight_decay"] == (0.3 if is_matrix else 0.0), group["name"]
    assert {g["name"] for g in groups if g["weight_decay"] > 0} == {"attn.0", "mlp.0", "attn.1", "mlp.1", "head"}
    assert preset_decays(model, "none", 1.0) == dict.fromkeys(param_types(model), 0.0)
    # per-matrix groups keep the same decays, one group per matrix
    split = adamw_groups(model, "nanogpt", lam=0.3, per_matrix=True)
    assert sum(":" in g["name"] for g in split) == 9 and all(len(g["params"]) == 1 for g in split if ":" in g["name"])


def test_bad_input_names_the_argument(corpus):
    model = tiny_model(corpus)
    with pytest.raises(ValueError, match=r"decays: unknown parameter type\(s\) \['attention'\]"):
        adamw_groups(model, {"attention": 0.1})
    with pytest.raises(ValueError, match=r"decays\['head'\] must be a finite non-negative"):
        adamw_groups(model, {"head": -0.1})
    with pytest.raises(ValueError, match=r"decays\['head'\]"):
        adamw_groups(model, {"head": float("nan")})
    with pytest.raises(ValueError, match="preset must be one of"):
        adamw_groups(model, "adamw", lam=0.1)
    with pytest.raises(ValueError, match="lam: a preset"):
        adamw_groups(model, "nanogpt")
    with pytest.raises(ValueError, match="optimizer: Adam does not apply decoupled"):
        check_decoupled(torch.optim.Adam(model.parameters(), weight_decay=0.1))
    with pytest.raises(ValueError, match="optimizer: SGD"):
        train_lm(model, corpus.train, corpus.val, torch.optim.SGD(model.parameters(), lr=0.1), LMRecipe(steps=2, warmup=0))
    with pytest.raises(ValueError, match="optimizer: its param groups carry no 'name'"):
        check_decoupled(torch.optim.AdamW(model.parameters()))
    optimizer = make_adamw(model, "nanogpt", 1e-3, lam=0.1)
    with pytest.raises(ValueError, match=r"decays: unknown parameter type\(s\) \['mlp.7'\]"):
        set_decays(optimizer, {"mlp.7": 0.1})
    with pytest.raises(ValueError, match="lr must be"):
        make_adamw(model, "nanogpt", -1.0, lam=0.1)
    with pytest.raises(ValueError, match="fraction must lie"):
        timescale_decay(LMRecipe(steps=10, warmup=0), 0.0)
    with pytest.raises(ValueError, match="strategy must be one of"):
        run_strategy("adamw", corpus, LMConfig(corpus.vocab_size, **TINY), LMRecipe(steps=2, warmup=0), 0)
    with pytest.raises(ValueError, match="d_model"):
        LMConfig(10, d_model=10, n_heads=3)
    for bad in ("0.1", True, None):                      # a number, not anything float() reads
        with pytest.raises(ValueError, match=r"decays\['head'\] must be a non-negative number"):
            adamw_groups(model, {"head": bad})
    with pytest.raises(ValueError, match="lr must be a number"):
        LMRecipe(lr="3e-3")
    recipe = LMRecipe(steps=2, warmup=0)
    with pytest.raises(ValueError, match="config: vocab_size 5 is smaller"):
        run_strategy("none", corpus, LMConfig(5, **TINY), recipe, 0)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        run_strategy("alphadecay", corpus, LMConfig(corpus.vocab_size, **TINY), recipe, 0, every=0)
    with pytest.raises(ValueError, match="heldout_windows must be an integer >= 2"):
        run_strategy("lamina", corpus, LMConfig(corpus.vocab_size, **TINY), recipe, 0,
                     tuner_options={"heldout_windows": 1})


def test_timescale_rule_follows_schedule_and_run_length():
    short, long = LMRecipe(steps=200, lr=1e-3, warmup=0, min_lr_ratio=1.0), LMRecipe(steps=400, lr=1e-3, warmup=0, min_lr_ratio=1.0)
    assert timescale_decay(short, 1.0) == pytest.approx(5.0) and timescale_decay(long, 1.0) == pytest.approx(2.5)
    cosine = LMRecipe(steps=400, lr=1e-3, warmup=0, min_lr_ratio=0.0)   # Σ η_t ≈ η T / 2
    assert timescale_decay(cosine, 1.0) == pytest.approx(5.0, rel=0.01)
    # lamina's start: a timescale of 100 runs, i.e. the 1/100 of the run-long timescale decay
    assert start_decay(long) == pytest.approx(0.025) and start_decay(long, 10) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="runs must be a positive number"):
        start_decay(long, 0)


def test_corpus_split_and_heldout_split_are_disjoint_blocks(corpus):
    assert corpus.train.numel() + corpus.val.numel() == 20_000 and corpus.val.numel() == 2_000
    assert corpus.decode(corpus.train[:5]) and corpus.vocab_size == len(corpus.chars)
    fit, held = heldout_split(corpus.train, 0.1)
    assert fit.numel() + held.numel() == corpus.train.numel() and 0.05 < held.numel() / corpus.train.numel() < 0.2
    with pytest.raises(ValueError, match="val_fraction"):
        heldout_split(corpus.train, 0.7)


def test_runs_are_deterministic_given_a_seed(corpus):
    config, recipe = LMConfig(corpus.vocab_size, **TINY), LMRecipe(steps=15, warmup=2, batch_size=8)
    first = run_strategy("nanogpt", corpus, config, recipe, 3, lam=0.1)
    again = run_strategy("nanogpt", corpus, config, recipe, 3, lam=0.1)
    other = run_strategy("nanogpt", corpus, config, recipe, 4, lam=0.1)
    assert first.val_ppl == again.val_ppl != other.val_ppl
    assert math.isfinite(first.val_ppl) and first.val_ppl < corpus.vocab_size * 1.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the check of a GPU session)")
def test_every_strategy_trains_on_a_gpu_with_the_text_on_the_host(corpus):
    """The held-out passes and the shadow heads called .numpy() on device tensors and mixed host
    and device tensors; the text stays on the host, each batch goes to the network's device."""
    config, recipe = LMConfig(corpus.vocab_size, **TINY), LMRecipe(steps=12, warmup=2, batch_size=8)
    for strategy in ("none", "nanogpt", "alphadecay", "awd", "lamina"):
        options = {"every": 3, "heldout_windows": 8} if strategy == "lamina" else None
        run = run_strategy(strategy, corpus, config, recipe, 0, device="cuda", tuner_options=options,
                           **({"every": 3} if strategy in ("alphadecay", "awd") else {}))
        assert math.isfinite(run.val_ppl) and next(run.model.parameters()).is_cuda


def test_lamina_tuner_decays_stay_finite_and_positive(corpus):
    config, recipe = LMConfig(corpus.vocab_size, **TINY), LMRecipe(steps=40, warmup=4, batch_size=8)
    # the gap rule of sections 2–3 (off by default since the shadow heads)
    run = run_strategy("lamina", corpus, config, recipe, 0,
                       tuner_options={"every": 4, "heldout_windows": 8, "z": 2.0, "shadow_heads": False})
    assert run.info["n_updates"] >= 5
    lambdas = np.array(list(run.info["lambdas"].values()))
    assert set(run.info["lambdas"]) == {"embedding", "attn.0", "mlp.0", "attn.1", "mlp.1", "head"}
    assert np.all(np.isfinite(lambdas)) and np.all(lambdas > 0)
    assert run.decays["norm"] == 0.0 and run.decays["bias"] == 0.0
    # the decays moved from the start, within the per-update cap
    lam0 = run.info["lam0"]
    assert np.any(np.abs(np.log(lambdas / lam0)) > 1e-6)
    assert np.all(np.abs(np.log(lambdas / lam0)) <= run.info["n_updates"] * math.log(2) + 1e-9)
    assert run.runs > 1.0   # the held-out passes are counted
    # the additive (leverage) step: finite, positive, lowering still capped at ÷2 per update
    run = run_strategy("lamina", corpus, config, recipe, 0,
                       tuner_options={"every": 4, "heldout_windows": 8, "leverage": True, "z": 0.0,
                                      "shadow_heads": False})
    lambdas = np.array(list(run.info["lambdas"].values()))
    assert np.all(np.isfinite(lambdas)) and np.all(lambdas > 0)
    assert np.all(np.log(lambdas / run.info["lam0"]) >= -run.info["n_updates"] * math.log(2) - 1e-9)
    assert np.any(np.abs(np.log(lambdas / run.info["lam0"])) > 1e-6)


def test_scale_search_finds_the_heldout_optimum_of_a_rescaled_head(corpus):
    """Blow the head up ×4 after training: the held-out loss prefers it smaller, log c* < 0."""
    recipe = LMRecipe(steps=30, warmup=2, batch_size=8)
    model = tiny_model(corpus)
    train_lm(model, corpus.train, corpus.val, make_adamw(model, "none", 3e-3), recipe)
    fit, held = heldout_split(corpus.train)
    tuner = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.1, types=["head", "attn.0"], seed=0)
    before = tuner.scale_search(model)
    with torch.no_grad():
        model.head.weight.mul_(4.0)
    after = tuner.scale_search(model)
    assert after[0] < before[0] and after[0] < 0
    with pytest.raises(ValueError, match=r"types: unknown parameter type\(s\) \['mlp.9'\]"):
        HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.1, types=["mlp.9"])


def test_gap_signal_ignores_a_scale_that_every_text_prefers(corpus):
    """A head blown up ×4 is too large for the training text as much as for the held-out text:
    the held-out optimum alone says 'decay it' (log c* < 0), the held-out-minus-training gap does
    not (no evidence of overfitting), so lamina's tuner leaves λ at its start."""
    recipe = LMRecipe(steps=30, warmup=2, batch_size=8)
    model = tiny_model(corpus)
    train_lm(model, corpus.train, corpus.val, make_adamw(model, "none", 3e-3), recipe)
    fit, held = heldout_split(corpus.train)
    tuner = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.1, types=["head"], seed=0, fit=fit)
    with torch.no_grad():
        model.head.weight.mul_(4.0)
    assert tuner.scale_search(model)[0] < -0.1
    assert abs(tuner.gap_search(model)[0]) < 0.1
    # with the gate off the gap is still an estimate, of either sign
    tuner.z = 0.0
    assert np.isfinite(tuner.gap_search(model)[0])
    with pytest.raises(ValueError, match="z must be a non-negative"):
        HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.1, z=-1.0)


def test_alphadecay_rule_spreads_decays_around_the_base(corpus):
    model = tiny_model(corpus)
    optimizer = make_adamw(model, "nanogpt", 1e-3, lam=0.1, per_matrix=True)
    callback = RuleDecay(optimizer, AlphaHillRule(), 0.1, every=1)
    callback.after_step(0, model, optimizer)
    decays = np.array([g["weight_decay"] for g in optimizer.param_groups if ":" in g["name"]])
    sizes = np.array([g["params"][0].numel() for g in optimizer.param_groups if ":" in g["name"]])
    assert np.ptp(decays) > 0 and np.dot(sizes, decays) / sizes.sum() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="optimizer: no per-matrix param groups"):
        RuleDecay(make_adamw(model, "nanogpt", 1e-3, lam=0.1), AlphaHillRule(), 0.1, every=1)


# ----------------------------------------------------------------------------- the study
def _parse(*argv):
    from lamina.studies.commands import add_nn_parser
    parser = argparse.ArgumentParser()
    add_nn_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["nn", *argv])


def test_transformer_study_reports_the_verdict(tmp_path, capsys):
    # a method that ends with equal λ counts as one λ in the verdict; AlphaDecay always spreads its
    # decays, and lamina ends with the decay of the head copy it kept (0 here) beside λ₀ on the other
    # types, so both are per-type methods and the sentence names the better of them
    args = _parse("--task", "transformer-char", "--methods", "none", "nanogpt-0.1", "lamina", "alphadecay",
                  "--seeds", "2", "--steps", "20", "--chars", "20000", "--d-model", "16", "--layers", "1",
                  "--context", "16", "--lm-batch-size", "8", "--out", str(tmp_path), "--json")
    code = args.run(args)
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["failed"] == [] and out["missing"] == []
    assert sorted(row["method"] for row in out["results"]) == ["alphadecay", "lamina", "nanogpt-0.1", "none"]
    per_type = min((row for row in out["results"] if row["method"] in ("alphadecay", "lamina")),
                   key=lambda row: row["perplexity"]["mean"])["method"]
    assert f"best per-parameter type method '{per_type}' vs best one-λ method '" in out["verdict"]
    assert "Δ perplexity" in out["verdict"]
    page = html.unescape((tmp_path / "report.html").read_text())
    assert out["verdict"] in page
    assert "The head's decay, measured on held-out text" in page     # lamina's copies, one panel per seed
    # `lamina report` on the stored study: the same verdict, metric and head's-decay figure
    from lamina.studies.report_command import add_report_parser
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers(dest="command"))
    report = parser.parse_args(["report", "--storage", str(tmp_path / "study.db"), "--out", str(tmp_path / "r")])
    assert report.run(report) == 0
    page = html.unescape((tmp_path / "r" / "report.html").read_text())
    assert out["verdict"] in page and "perplexity" in page and "The head's decay, measured on held-out text" in page


def test_transformer_study_bad_task_and_method(tmp_path):
    from lamina.studies.tasks import TaskError
    args = _parse("--task", "transformer-word", "--methods", "none", "--out", str(tmp_path), "--quiet")
    with pytest.raises(TaskError, match="--task: unknown transformer task 'transformer-word'"):
        args.run(args)
    args = _parse("--task", "transformer-char", "--methods", "evidence", "--out", str(tmp_path), "--quiet")
    with pytest.raises(ValueError, match=r"--methods: unknown \['evidence'\] for --task transformer-char"):
        args.run(args)
    from lamina.studies.nn import DEFAULT_STRATEGIES as MLP_DEFAULTS   # the network study's list is not swapped
    args = _parse("--task", "transformer-char", "--methods", *MLP_DEFAULTS, "--out", str(tmp_path), "--quiet")
    with pytest.raises(ValueError, match=r"--methods: unknown \['uniform'"):
        args.run(args)
    # a context longer than the validation text (or lamina's held-out text) is refused before any run
    for methods, shortest in ((["none"], 2000), (["none", "lamina"], 1800)):
        args = _parse("--task", "transformer-char", "--chars", "20000", "--context", "1999", "--methods", *methods,
                      "--out", str(tmp_path), "--quiet")
        with pytest.raises(ValueError, match=f"--context 1999: .* has {shortest} "):
            args.run(args)
    assert not (tmp_path / "study.db").exists()


# ----------------------------------------------------------------------------- overfitting switch
def test_overfit_detector_needs_a_significant_persistent_rise():
    from lamina.torch.lm.overfit import OverfitDetector
    rng = np.random.default_rng(0)
    base = rng.uniform(1.0, 3.0, 32)
    # a held-out loss that keeps falling (a model still learning) never triggers it
    falling = OverfitDetector()
    assert not any(falling.update(base - 0.05 * k + rng.normal(0, 0.01, 32)) for k in range(10))
    # noise around a plateau: rises that are not significant do not count
    plateau = OverfitDetector(z=3.0)
    assert not any(plateau.update(base + rng.normal(0, 0.05, 32)) for _ in range(10))
    # one significant rise is not enough with patience 2; two in a row are, and it stays triggered
    rising = OverfitDetector(z=2.0, patience=2)
    assert [rising.update(base + shift + rng.normal(0, 0.01, 32)) for shift in (0.0, -0.2, 0.1, -0.3, 0.0, 0.1, -0.3)] \
        == [False, False, False, False, False, True, True]
    assert rising.means[-1] < rising.means[0] and rising.checks == 7
    # z = inf: never
    never = OverfitDetector(z=math.inf, patience=1)
    assert not any(never.update(base + k) for k in range(5))
    with pytest.raises(ValueError, match="patience must be a positive integer"):
        OverfitDetector(patience=0)
    with pytest.raises(ValueError, match="z must be a non-negative"):
        OverfitDetector(z=-1.0)
    with pytest.raises(ValueError, match="losses: 5 windows, the earlier checks had 32"):
        rising.update(np.ones(5))


def test_tuner_switches_to_the_timescale_decay_once_overfitting_is_measured(corpus):
    """The detector fed a rising held-out loss twice: the next update raises every tuned decay to
    the EMA-timescale rule 1/Σ η_t (never lowers one above it); with overfit_z = inf it does not."""
    config, recipe = LMConfig(corpus.vocab_size, **TINY), LMRecipe(steps=40, warmup=2, batch_size=8)
    fit, held = heldout_split(corpus.train)
    floor = timescale_decay(recipe)
    for overfit_z, switches in ((2.0, True), (math.inf, False)):
        model = tiny_model(corpus)
        types = ["embedding", "attn.0", "head"]
        optimizer = make_adamw(model, dict.fromkeys(types, 1e-3), 3e-3)
        tuner = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=1e-3, types=types, seed=0, fit=fit,
                                  every=1, overfit_z=overfit_z, heldout_windows=8, temperature="off")  # the gap rule
        centre = tuner._window_losses(model, tuner.x, tuner.y)["centre"]
        for shift in (-1.0, 1.0):   # a best check, then a rise; the held-out loss now is a second rise
            tuner.overfit.update(centre + shift)
        tuner.after_step(5, model, optimizer)
        decays = tuner.decays()
        assert (tuner.switched_at == 5) is switches and (tuner.switched_at is None) is not switches
        if switches:
            assert all(v >= floor * (1 - 1e-9) for v in decays.values())
            assert {g["name"]: g["weight_decay"] for g in optimizer.param_groups if g["name"] in types} == \
                pytest.approx(decays)
        else:
            assert all(v < 0.01 for v in decays.values())
    run = run_strategy("lamina", corpus, config, LMRecipe(steps=20, warmup=2, batch_size=8), 0,
                       tuner_options={"every": 4, "heldout_windows": 8})
    assert "switched_at" in run.info and len(run.info["heldout_curve"]) == run.info["n_updates"]


def test_timescale_floor_holds_after_the_switch_when_the_gap_asks_for_less_decay(corpus, monkeypatch):
    """Once overfitting switched the floor on, later gap steps (here: every type's held-out slope
    asks for larger weights, i.e. less decay) never take a decay below 1/Σ η_t (they had, to 1/8)."""
    recipe = LMRecipe(steps=60, warmup=0, batch_size=4)
    fit, held = heldout_split(corpus.train)
    model = tiny_model(corpus)
    types = ["embedding", "attn.0", "head"]
    optimizer = make_adamw(model, dict.fromkeys(types, 1e-3), 3e-3)
    tuner = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=1e-3, types=types, seed=0, fit=fit, every=5,
                              z=2.0, heldout_windows=8, temperature="off", shadow_heads=False)

    def larger_weights(model):
        tuner._held_centre = np.zeros(8)
        return np.full(len(types), 0.5)
    monkeypatch.setattr(tuner, "gap_search", larger_weights)
    monkeypatch.setattr(tuner.overfit, "update", lambda losses: True)
    floor, lowest = timescale_decay(recipe), []
    for step in range(recipe.steps):
        tuner.after_step(step, model, optimizer)
        if tuner.switched_at is not None:
            lowest.append(min(tuner.decays().values()))
    assert tuner.switched_at == 4 and len(lowest) > 20
    assert min(lowest) >= floor * (1 - 1e-9)


def test_awd_and_alphadecay_recompute_every_requested_step(corpus, monkeypatch):
    """``every`` reaches both adaptive rules (AWD had been fixed at 10 steps); by default AWD
    recomputes every 10 steps and AlphaDecay every sixth of the run."""
    import lamina.torch.lm.strategies as strategies
    seen = []

    class Spy(RuleDecay):
        def __init__(self, optimizer, rule, lam, every):
            seen.append((type(rule).__name__, every))
            super().__init__(optimizer, rule, lam, every)
    monkeypatch.setattr(strategies, "RuleDecay", Spy)
    config, recipe = LMConfig(corpus.vocab_size, **TINY), LMRecipe(steps=12, warmup=2, batch_size=4)
    for every in (4, None):
        for strategy in ("alphadecay", "awd"):
            run_strategy(strategy, corpus, config, recipe, 0, lam=0.1, every=every)
    assert seen == [("AlphaHillRule", 4), ("AWDRule", 4), ("AlphaHillRule", 2), ("AWDRule", 10)]


def test_random_windows_draw_every_valid_start():
    """Windows of context + 1 characters start anywhere in 0 … N − context − 1, so the text's last
    character is a target; a text of exactly context + 1 characters has one window."""
    from lamina.torch.lm.model import random_windows
    generator = torch.Generator().manual_seed(0)
    x, y = random_windows(torch.arange(12), 2000, 8, generator)
    assert sorted(set(x[:, 0].tolist())) == [0, 1, 2, 3] and int(y.max()) == 11
    x, y = random_windows(torch.arange(9), 3, 8, generator)
    assert x[:, 0].tolist() == [0, 0, 0] and y[:, -1].tolist() == [8, 8, 8]
    with pytest.raises(ValueError, match="need at least context"):
        random_windows(torch.arange(8), 1, 8, generator)


def test_persist_applies_a_step_only_after_the_signal_kept_its_sign(corpus):
    recipe = LMRecipe(steps=40, warmup=2, batch_size=8)
    fit, held = heldout_split(corpus.train)

    def tuner_with(signals, persist, leverage=False):
        model = tiny_model(corpus)
        optimizer = make_adamw(model, {"head": 1e-2}, 3e-3)
        tuner = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=1e-2, types=["head"], seed=0, fit=fit,
                                  every=1, persist=persist, leverage=leverage, heldout_windows=8, overfit_z=math.inf,
                                  temperature="off", z=2.0, shadow_heads=False)   # the gap rule: what persist gates
        feed = iter(signals)
        tuner.gap_search = lambda model: np.array([next(feed)])
        path = []
        for step in range(2, 2 + len(signals)):
            tuner.after_step(step, model, optimizer)
            path.append(tuner.decays()["head"])
        return np.array(path)

    flipping = [-0.3, 0.3, -0.3, 0.3]
    assert np.ptp(np.log(tuner_with(flipping, 1))) > 0.5          # every signal applied
    assert np.allclose(tuner_with(flipping, 2), 1e-2)               # a flipping sign is never applied
    steady = tuner_with([-0.3, -0.3, 0.0, -0.3, -0.3], 2)
    # first update: not yet; second: applied (raise); a silent update resets the streak
    assert steady[0] == pytest.approx(1e-2) and steady[1] > 1e-2
    assert steady[2] == steady[1] == steady[3] and steady[4] > steady[3]
    assert tuner_with([-0.3, -0.3], 2, leverage=True)[-1] > tuner_with([-0.3, -0.3], 2)[-1]
    with pytest.raises(ValueError, match="persist must be a positive integer"):
        HeldoutDecayTuner(tiny_model(corpus), recipe, held, corpus.train, lam0=1e-2, persist=0)


def test_temperature_search_and_step():
    """The held-out optimum of the logits' scale, and the map from it to the head's decay."""
    from lamina.torch.lm.temperature import interval_step, linear_owning, power_step, temperature_search
    generator = torch.Generator().manual_seed(1)
    h, w = torch.randn(3000, 6, generator=generator), torch.randn(7, 6, generator=generator)
    y = torch.distributions.Categorical(logits=h @ w.T).sample()
    assert math.exp(temperature_search(h, 2.0 * w, None, y)) == pytest.approx(0.5, abs=0.05)
    assert math.exp(temperature_search(h, 0.5 * w, None, y)) == pytest.approx(2.0, abs=0.2)
    assert temperature_search(h, 100.0 * w, None, y, log_range=0.5) == pytest.approx(-0.5, abs=1e-2)
    assert power_step(1.0, math.log(0.9)) == pytest.approx(0.9 ** -2)
    assert power_step(1.0, math.log(0.1)) == pytest.approx(2.0)          # at most ×max_factor
    assert power_step(1.0, math.log(10.0)) == pytest.approx(0.5)         # at least ÷max_factor
    assert power_step(1.0, math.log(0.5), max_decay=1.5) == 1.5
    assert interval_step(1.0, math.log(0.9), 0.5) == pytest.approx(1.0 - math.log(0.9) / 0.5)
    assert interval_step(1.0, math.log(0.9), 0.5, kappa=0.5) == pytest.approx(1.0 - 0.5 * math.log(0.9) / 0.5)
    assert interval_step(1.0, math.log(1.5), 0.01) == pytest.approx(0.5)   # lowering: ÷max_factor at most
    assert interval_step(1.0, math.log(0.5), 0.01, max_decay=20.0) == 20.0
    with pytest.raises(ValueError, match="horizon must be a non-negative"):
        interval_step(1.0, 0.1, -1.0)
    with pytest.raises(ValueError, match="log_range must be a positive"):
        temperature_search(h, w, None, y, log_range=0.0)
    with pytest.raises(ValueError, match="targets: 5 targets"):
        temperature_search(h, w, None, y[:5])
    with pytest.raises(ValueError, match="temperature: the head type's parameter"):
        linear_owning(torch.nn.Linear(2, 2), torch.nn.Parameter(torch.zeros(2, 2)))


def test_head_decay_follows_the_heldout_temperature_with_the_option(corpus):
    """A head blown up ×4: the held-out temperature says 'too confident' (log c* < 0) and the
    tuner with temperature="interval" raises the head's decay at once (by −log c*/Σ η over the next
    interval, capped at max_shrink/η); the default gap rule (temperature="off") leaves it at its
    start, since the training text finds the head as much too large; the power map moves it by
    c*^(−2), at most ×max_factor."""
    recipe = LMRecipe(steps=30, warmup=2, batch_size=8)
    fit, held = heldout_split(corpus.train)
    trained = tiny_model(corpus)
    train_lm(trained, corpus.train, corpus.val, make_adamw(trained, "none", 3e-3), recipe)
    with torch.no_grad():
        trained.head.weight.mul_(4.0)
    state = {k: v.clone() for k, v in trained.state_dict().items()}

    def one_update(**options):
        model = tiny_model(corpus)
        model.load_state_dict(state)
        optimizer = make_adamw(model, {"head": 0.1, "attn.0": 0.1}, 3e-3)
        tuner = HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.1, types=["head", "attn.0"], seed=0,
                                  fit=fit, every=1, overfit_z=math.inf, **options)
        tuner.after_step(5, model, optimizer)
        assert {g["name"]: g["weight_decay"] for g in optimizer.param_groups if g["name"] in tuner.types} == \
            pytest.approx(tuner.decays())
        return tuner, tuner.decays()

    tuner, default = one_update(temperature="interval")
    assert tuner.log_temperatures[0] < -0.2
    horizon = recipe.lr_integral(6) - recipe.lr_integral(7)
    expected = min(0.1 - tuner.log_temperatures[0] / horizon, 0.1 / 3e-3)
    assert default["head"] == pytest.approx(expected) and default["head"] > 10
    off_tuner, off = one_update()                                      # the default: off
    assert off_tuner.temperature == "off"
    assert off["head"] == pytest.approx(0.1) and off_tuner.log_temperatures == []
    power_tuner, power = one_update(temperature="power")
    assert power["head"] == pytest.approx(0.1 * min(2.0, math.exp(-2 * power_tuner.log_temperatures[0])))
    assert default["attn.0"] == pytest.approx(off["attn.0"])          # the body keeps the gap rule
    # temperature_gap: only the held-out text's excess over the training text's optimum counts —
    # a head too large for every text is no evidence of overfitting
    gap_tuner, gap = one_update(temperature="interval", temperature_gap=True)
    assert abs(gap_tuner.log_temperatures[0]) < 0.1 < abs(tuner.log_temperatures[0]) and gap["head"] < default["head"]
    model = tiny_model(corpus)
    for options, message in (({"temperature": "cold"}, "temperature must be one of"),
                             ({"temperature": "interval", "types": ["attn.0"]}, "temperature: 'interval' needs"),
                             ({"temperature": "power", "temperature_kappa": 0.0}, "temperature_kappa must be a positive"),
                             ({"temperature": "interval", "max_shrink": -1.0}, "max_shrink must be a positive")):
        with pytest.raises(ValueError, match=message):
            HeldoutDecayTuner(model, recipe, held, corpus.train, lam0=0.1, **options)
    run = run_strategy("lamina", corpus, LMConfig(corpus.vocab_size, **TINY), LMRecipe(steps=20, warmup=2, batch_size=8),
                       0, tuner_options={"every": 4, "heldout_windows": 8, "temperature": "interval"})
    assert len(run.info["log_temperatures"]) == run.info["n_updates"] > 0
