"""Layer 2: the parametric laws and every route that integrates a density.

One file per family (:mod:`.uniform`, :mod:`.gaussian`, :mod:`.laplace`,
:mod:`.scipy_law`) holding all of its formulas as hooks; the cell sum
(:mod:`.cells`), the Euler-Maclaurin series (:mod:`.series`), the additive
model (:mod:`.additive`), the route choice per step (:mod:`.routes`) and the
law optimum (:mod:`.optimum`). Nothing here knows empirical data.
"""
