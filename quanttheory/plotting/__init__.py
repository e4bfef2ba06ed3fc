"""Figures of the quantization theory (matplotlib, imported on first use).

Every function draws on a new :class:`matplotlib.figure.Figure` or on the
Axes passed as ``ax``, returns the Figure and touches no global state: no
pyplot figure is created and nothing is shown. Save with
``fig.savefig("name.png")`` (``.svg`` and ``.pdf`` work too).

* :func:`plot_mse_curves`: MSE against the step for several laws at equal
  variance, exact and additive models, optional Monte Carlo.
* :func:`plot_sensitivity`: :math:`\\Gamma(X,\\varepsilon)` of Lemma 1, its
  exact value and Monte Carlo, with the kink of the uniform law.
* :func:`plot_bitwidth`: optimal MSE, SQNR and clipping level against bits.
* :func:`plot_tensor`: a real tensor's histogram, fitted laws, quantizer
  levels and empirical MSE curve.
* :func:`style`: the shared style, for your own figures.
"""

from ._figures import (
    plot_bitwidth,
    plot_mse_curves,
    plot_sensitivity,
    plot_tensor,
    style,
)

__all__ = [
    "plot_bitwidth",
    "plot_mse_curves",
    "plot_sensitivity",
    "plot_tensor",
    "style",
]
