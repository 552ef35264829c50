"""Weight decay per parameter type in an AdamW-trained character transformer (issue 15, part 2).

>>> from lamina.torch.lm import CharTransformer, LMConfig, param_types
>>> net = CharTransformer(LMConfig(vocab_size=5, context=4, d_model=8, n_layers=1, n_heads=2))
>>> sorted(param_types(net))
['attn.0', 'bias', 'embedding', 'head', 'mlp.0', 'norm']
"""
from lamina.torch.lm.model import CharTransformer, Corpus, LMConfig, load_corpus
from lamina.torch.lm.param_types import (PRESETS, adamw_groups, check_decoupled, make_adamw, param_types,
                                         preset_decays, set_decays)
from lamina.torch.lm.strategies import STRATEGIES, run_strategy
from lamina.torch.lm.train import DecayCallback, LMRecipe, LMRun, perplexity, train_lm
from lamina.torch.lm.tuner import HeldoutDecayTuner, timescale_decay

__all__ = ["CharTransformer", "Corpus", "DecayCallback", "HeldoutDecayTuner", "LMConfig", "LMRecipe", "LMRun",
           "PRESETS", "STRATEGIES", "adamw_groups", "check_decoupled", "load_corpus", "make_adamw", "param_types",
           "perplexity", "preset_decays", "run_strategy", "set_decays", "timescale_decay", "train_lm"]
