"""Layer 2: empirical data (:class:`~.empirical.Empirical`) and every route
that touches samples.

The chunked MSE and its one-sided derivatives (:mod:`.values`), the shared
piece-sweep primitives (:mod:`.sweep`), the sorted route (:mod:`.sorted`),
the streaming two-pass route (:mod:`.streaming`), the route choice
(:mod:`.optimum`) and the smoothed curvature (:mod:`.curvature`). Nothing
here knows a density.
"""
