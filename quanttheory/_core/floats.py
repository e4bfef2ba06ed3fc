"""Float helpers: exact products and residuals, and a BLAS-free dot."""

from __future__ import annotations

import numpy as np

__all__ = ["DEKKER", "dot", "quotient_residual", "two_product"]

DEKKER = 134217729.0  # 2**27 + 1


def dot(a, b) -> float:
    """Inner product of two 1-D float arrays without BLAS.

    ``np.dot`` hands even short vectors to a threaded BLAS, whose thread
    wake-up costs milliseconds per call on small machines; ``einsum`` runs
    in the calling thread (pairwise-free but plain float64 accumulation,
    which is what the callers need).
    """
    return float(np.einsum("i,i->", a, b))


def two_product(a, b):
    r"""Error-free product: ``(p, err)`` with ``a*b = p + err`` exactly.

    Dekker's algorithm (T. J. Dekker, "A floating-point technique for
    extending the available precision", Numer. Math. 18, 224-242, 1971),
    without a fused multiply-add: Veltkamp's splitting
    :math:`a = a_h + a_l` into 26-bit halves (:math:`c = (2^{27}+1)a`,
    :math:`a_h = c - (c - a)`) makes every partial product exact, and

    .. math::

        p = \mathrm{fl}(ab), \qquad
        \mathrm{err} = ((a_h b_h - p) + a_h b_l + a_l b_h) + a_l b_l .

    Parameters
    ----------
    a, b : ndarray or float
        Factors, ``|a|, |b| < 1e300`` (the splitting must not overflow) and
        ``|a*b|`` well inside the normal range (no underflow of ``err``).

    Returns
    -------
    p, err : ndarray
        The rounded product and its exact rounding error.
    """
    ca = DEKKER * a
    ah = ca - (ca - a)
    al = a - ah
    cb = DEKKER * b
    bh = cb - (cb - b)
    bl = b - bh
    p = a * b
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def quotient_residual(num, den: float, q):
    r"""Rounding error of a quotient: ``e`` with ``num/den = q + e``.

    For :math:`q = \mathrm{fl}(n/d)` the remainder :math:`n - qd` is exact
    in floating point (:func:`two_product` gives :math:`qd = p + p_e`, and
    :math:`n - p` is exact by Sterbenz's lemma), so

    .. math::

        e = \frac{(n - p) - p_e}{d}

    is the error of ``q`` to within a relative :math:`\epsilon` of its own
    (Markstein; Muller et al., *Handbook of Floating-Point Arithmetic*,
    2nd ed. 2018, sec. 4.4).

    Parameters
    ----------
    num : ndarray
        Numerators.
    den : float
        The (positive) divisor.
    q : ndarray
        ``num / den`` as computed.

    Returns
    -------
    ndarray
        ``e``; zero where ``den == 1`` (``q`` exact), where ``den`` lies
        outside ``(1e-150, 1e150)`` or where ``|q| >= 1e100`` (the splitting
        would overflow; such thresholds are far beyond the underflow of the
        Gaussian tail, where the correction is irrelevant).
    """
    if den == 1.0 or not 1e-150 < den < 1e150:
        return np.zeros_like(q)
    ok = np.abs(q) < 1e100
    qq = np.where(ok, q, 0.0)
    p, pe = two_product(qq, den)
    return np.where(ok, ((np.where(ok, num, 0.0) - p) - pe) / den, 0.0)
