r"""The peers' step calibrators, as comparison baselines.

ACIQ (Gaussian and Laplace priors), OCTAV's fixed point, max-abs, a
percentile range, torchao's 100-point exact grid and an adapter around
PyTorch's ``HistogramObserver``. Each returns a quantization step for a
level set (``scheme``, default ``'paper'``, the package's one default;
pass ``'signed'`` for M-bit integer grids such as torch's observers),
converting a clip value to a step only through that level set;
:func:`excess_mse` scores any step against :func:`quanttheory.optimal_step`
on the same data. Samples may be NumPy arrays or any torch tensor
(detached and read on the CPU, bfloat16 as float32).

``import quanttheory.baselines`` does not import torch;
:func:`histogram_observer` imports it when called.

Notes
-----
**Clip value and step.** ACIQ, OCTAV, max-abs, the percentile range and
the torchao grid produce a *clip value* :math:`\alpha`. It is converted to
a step only through the scheme's level set
:math:`\{(k+o)\Delta : k_{\min}\le k\le k_{\max}\}`:

.. math::

    \Delta = \frac{\alpha}{K_\alpha}, \qquad
    K_\alpha = \max(|k_{\min}|, |k_{\max}|),

the largest integer level index (the offset :math:`o` excluded). With
:math:`K = 2^{M-1}`:

============= ================ ==========================================
scheme        :math:`K_\alpha` what :math:`\alpha` is
============= ================ ==========================================
``midrise``   :math:`K`        the outer cell edge
                               :math:`\tau_+ + \Delta/2` (ACIQ's and
                               OCTAV's own grid: :math:`\Delta=2\alpha/2^M`)
``signed``    :math:`K`        the most negative level :math:`-K\Delta`;
                               the same step as the method's own grid
``paper``     :math:`K`        the outermost levels :math:`\pm K\Delta`
                               (ACIQ's simulation script: clip to
                               :math:`\pm\alpha`, then round)
``symmetric`` :math:`K-1`      the outermost levels (NVIDIA's narrow
                               range, ``amax`` to :math:`2^{M-1}-1`)
============= ================ ==========================================

For ``midrise``, ``signed`` and ``paper`` the step is therefore exactly the
one each model optimised (:math:`\Delta = \alpha/2^{M-1}`); only the level
set differs. PyTorch's and torchao's symmetric observers divide by
:math:`(q_{\max}-q_{\min})/2 = K-\tfrac12` instead for ``signed``, a step
larger by :math:`K/(K-\tfrac12)`.

Every function takes ``bits`` and ``scheme`` like the rest of quanttheory
and raises :class:`~quanttheory.InvalidArgument` for bad input.

Examples
--------
>>> import numpy as np
>>> import quanttheory as qt
>>> from quanttheory import baselines
>>> x = qt.Empirical(np.random.default_rng(0).standard_normal(10_000))
>>> steps = {"aciq": baselines.aciq_gaussian(x, 4), "octav": baselines.octav(x, 4)}
>>> all(baselines.excess_mse(x, d, 4) >= 0 for d in steps.values())
True
"""

from ._peers import (
    ACIQ_GAUSSIAN_ALPHA,
    ACIQ_LAPLACE_ALPHA,
    aciq_alpha,
    aciq_gaussian,
    aciq_laplace,
    excess_mse,
    grid_search,
    histogram_observer,
    max_abs,
    octav,
    percentile,
)

__all__ = [
    "ACIQ_GAUSSIAN_ALPHA",
    "ACIQ_LAPLACE_ALPHA",
    "aciq_alpha",
    "aciq_gaussian",
    "aciq_laplace",
    "excess_mse",
    "grid_search",
    "histogram_observer",
    "max_abs",
    "octav",
    "percentile",
]
