"""Kernel templates: real modules whose free names (the landscape's oracle, the
rule's ``init``/``step``, the event, the projection) are bound when
:func:`testbed._engine.codegen.instantiate` makes an instance of them. Imported
alone, each runs as plain Python once its names are bound (``NUMBA_DISABLE_JIT=1``
runs instances from these very files, so debuggers and coverage see them)."""


def unbound(*args):
    """What a template's free names are until :func:`testbed._engine.codegen.instantiate`
    binds them."""
    raise RuntimeError("bound when testbed._engine.codegen.instantiate makes an instance")
