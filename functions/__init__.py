"""The catalogue of toy landscapes, one file per family, grouped by phenomenon.

Installed as ``testbed.functions``. To add a landscape, add a file here (or in your
own folder, see :mod:`testbed.objective.registry`) that defines it with
:func:`testbed.symbolic` or :func:`testbed.from_kernels`.
"""
