"""Solvers, one algorithm per module; ``lamina.solve`` picks among them."""
