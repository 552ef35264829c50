"""Issue 18: the noise estimate σ̂ and the SURE / GCV choices of λ on f-k trace interpolation, where
the real Fourier synthesis holds every atom twice (±k) and df = |support| counted the twins twice.
Run on two trees to compare (PYTHONPATH=<tree>/src; an editable install yields to PYTHONPATH):

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_fk_dof.py

Problems: ``interpolation(n_traces=48, n_time=128, transform="fk")`` at (kept share, SNR) =
(0.6, 30 dB), (0.5, 20 dB), (0.4, 10 dB), seeds 0–2; L1. Prints σ̂/σ (``estimate_sigma``, with
the method it settled on) and the relative error of the gather at the λ of GCV, SURE (true σ) and
5-fold CV, then the means.
"""
import time
import warnings

import numpy as np

from lamina.inverse import NoiseEstimateWarning, estimate_sigma, fit, interpolation

SETTINGS = [(0.6, 30.0), (0.5, 20.0), (0.4, 10.0)]


def main():
    warnings.simplefilter("ignore")
    rows = []
    for keep, snr in SETTINGS:
        for seed in range(3):
            problem = interpolation(n_traces=48, n_time=128, keep=keep, transform="fk", snr_db=snr, seed=seed)
            started = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", NoiseEstimateWarning)
                noise = estimate_sigma(problem.A, problem.b, "l1")
            errors = [problem.relative_error(fit(problem.A, problem.b, "l1", tuner=tuner, sigma=problem.sigma).x)
                      for tuner in ("gcv", "sure", "cv")]
            rows.append([noise.sigma / problem.sigma, *errors])
            print(f"kept {keep:.1f}  {snr:2.0f} dB  seed {seed}   σ̂/σ {rows[-1][0]:.3f} ({noise.method}"
                  f"{', warned' if caught else ''})   error gcv {errors[0]:.4f}  sure {errors[1]:.4f}  "
                  f"cv {errors[2]:.4f}   ({time.perf_counter() - started:.0f} s)", flush=True)
    mean = np.mean(rows, axis=0)
    print(f"mean: σ̂/σ {mean[0]:.3f}   error gcv {mean[1]:.4f}  sure {mean[2]:.4f}  cv {mean[3]:.4f}")


if __name__ == "__main__":
    main()
