"""Calls into a compiled kernel through its symbol, instead of through its code.

Numba compiles a call from one jitted function to another by linking the callee's
LLVM module into the caller's, then optimising and generating machine code for the
whole again: every kernel that called a network's gradient (each runner instance, the
sharpness kernel, a curve's objective) compiled the whole network once more.
:func:`by_symbol` gives a function that calls the callee's own machine code, compiled
once per signature and cached on disk with the callee, through an external symbol:
when a caller is compiled the symbol is bound to the callee's entry
(``llvmlite.binding.add_symbol``), and when a caller is loaded from Numba's cache it
is bound again first (the caller's ``reload_init``, which Numba runs before loading
its code). The call follows Numba's own calling convention, so arrays, references and
errors pass as in a linked call; what is lost is inlining across the call, which does
not matter for a callee as large as a network's pass.
"""
from __future__ import annotations

import functools
import hashlib
import importlib

import numba

from . import codegen

_BOUND: dict = {}


def bind(module: str, name: str, argtypes: tuple) -> tuple[str, object]:
    """Compile ``module.name`` for ``argtypes`` (or load it from the cache), bind its
    symbol to its entry and return (symbol, return type). Idempotent."""
    import llvmlite.binding as llvm
    key = f"{module}.{name}{argtypes}".encode()
    symbol = f"testbed_call_{name}_{hashlib.sha256(key).hexdigest()[:20]}"
    if symbol not in _BOUND:
        dispatcher = getattr(importlib.import_module(module), name)
        dispatcher.compile(argtypes)
        cres = dispatcher.overloads[argtypes]
        llvm.add_symbol(symbol, cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name))
        _BOUND[symbol] = cres.signature.return_type
    return symbol, _BOUND[symbol]


def typer(module: str, name: str, *argtypes):
    """The typing and code generation of an intrinsic that calls ``module.name`` by
    symbol with arguments of types ``argtypes``."""
    from numba.core import cgutils
    argtypes = tuple(argtypes)
    symbol, rtype = bind(module, name, argtypes)

    def generate(context, builder, signature, args):
        fnty = context.call_conv.get_function_type(rtype, argtypes)
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
        status, res = context.call_conv.call_function(builder, fn, rtype, argtypes, args)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        context.active_code_library._reload_init.add(
            functools.partial(bind, module, name, argtypes))
        return res
    return rtype(*argtypes), generate


_SOURCE = '''"""Calls {module}.{name} by symbol (testbed._engine.calls)."""
from numba.extending import intrinsic

from testbed._engine.calls import typer
from testbed._engine.jit import njit


@intrinsic
def _call(typingctx, {args}):
    return typer("{module}", "{name}", {args})


@njit(inline="always")
def {name}({args}):
    return _call({args})
'''


def by_symbol(dispatcher):
    """A jitted function with ``dispatcher``'s arguments that calls it by symbol (see the
    module docstring), also from Python. ``dispatcher`` is a module-level Numba
    function, found again by its module and name when a caller is loaded from the
    cache. The caller is a generated module in the kernel cache, so that Numba caches
    it too. Under NUMBA_DISABLE_JIT=1, ``dispatcher`` itself."""
    if numba.config.DISABLE_JIT:
        return dispatcher
    py = dispatcher.py_func
    module, name = py.__module__, py.__name__
    args = ", ".join(py.__code__.co_varnames[:py.__code__.co_argcount])
    caller = codegen.generated("call", f"{module}.{name}({args})",
                               lambda: _SOURCE.format(module=module, name=name, args=args))
    return getattr(caller, name)
