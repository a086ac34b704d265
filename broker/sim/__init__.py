"""The deterministic cluster simulation (``odradek sim``, ``python -m broker.sim``).

The real controller, partition, fetcher and log code in one process on a simulated clock,
network and disk, driven by a seed; the tests are in ``tests/sim/``.
"""
