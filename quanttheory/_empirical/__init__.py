"""Layer 2: empirical data (:class:`~.empirical.Empirical`) and every route
that touches samples.

The chunked MSE and its one-sided derivatives (:mod:`.values`), the
exact optimum of every size by branch and bound (:mod:`.bound`, with its
O(N) passes in :mod:`.kernels`), the sorted route of the additive model
(:mod:`.sorted`, on the primitives of :mod:`.sweep`), the route choice
(:mod:`.optimum`), the batched engine (:mod:`.batched`) and the smoothed
curvature (:mod:`.curvature`). Nothing
here knows a density.
"""
