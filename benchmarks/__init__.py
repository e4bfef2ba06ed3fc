"""Benchmarks of quanttheory against the calibrators people use today.

Run from the repository root::

    python -m benchmarks                 # full run, writes docs/benchmarks.md
    python -m benchmarks --quick         # CI smoke run (< 60 s), prints only
    python -m benchmarks --only a        # one section (a, b, c, d or e)
    python -m benchmarks --only a --sizes 1e7 --bits 4 --laws gaussian

Sections: (a) the exact optimal step of an empirical tensor against ACIQ,
OCTAV, max-abs, a percentile, the 100-point exact grid and PyTorch's
HistogramObserver, on time and on excess MSE over an independently computed
true optimum; (b) the analytic MSE against per-cell adaptive quadrature;
(c) ``quantize`` throughput against torch's fake-quant and ``np.copy``;
(d) Monte Carlo samples per second and bounded memory; (e) a 22M-parameter
model. Every engine call site is in :mod:`benchmarks.engine_calls`.
"""
