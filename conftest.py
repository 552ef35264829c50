"""Root pytest configuration: lamina.torch is optional (the `torch` extra)."""
import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("torch") else ["src/lamina/torch/*", "src/lamina/studies/nn.py"]
