"""Layer 0 and 1 of the package: everything that knows no law and no data.

Errors and argument checks, the level set (:class:`~.scheme.Scheme`),
quadrature rules, float helpers, the thread pool and chunked map-reduce,
1-D local-minimum search and the table formatter (layer 0); the
:class:`~.distribution.Distribution` base with its hook defaults and the
vectorised quantizer (layer 1). Nothing here imports ``quanttheory._laws``,
``quanttheory._empirical`` or anything above them (``pyproject.toml``,
``[tool.importlinter]``).
"""
