"""How the strategy runner, compiled once for every strategy, calls a strategy's
callbacks, compiled alone for each strategy file.

Why: with the callbacks inlined into the runner, numba typed and LLVM optimised the
whole runner (the batch loop, the commit, the order table, the guard) again for every
edit of a strategy file: 20-45 s, every time. Split, an edit compiles only the file's
callbacks (1-3 s; engine/strategy_entries.py) and the runner loads from numba's cache.

The call: each callback is reached through its *entry*, a jitted function of four
int64 (the context's address, the symbol's state row's, the params record's, and
the record's address or the timer's time) compiled with numba's own calling
convention. The runner calls it by address (call_callback) with that convention too,
so an exception a callback raises comes back through the runner exactly as it did
inlined: its type and message, to the worker (workers/strategy/agent.py), unchanged.

The context: the runner keeps its context, the StrategyContext struct of arrays, in
ctx.context_cell once per process (keep_context; it never changes: its arrays live as
long as the worker); an entry reads it back from there (context_at). Only the fields a
callback uses are loaded (one load each; LLVM drops the others), so a call costs an
indirect call and a few L1 loads, where passing the ~40 arrays by value would push
~300 words per record.

The meminfo words in the kept struct are those of the run that kept it (gone after
it); nothing reads them: the runner and every callback are compiled with _nrt=False,
so no reference is ever counted through them.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.core.typing.templates import AttributeTemplate
from numba.extending import (
    infer_getattr, intrinsic, lower_getattr_generic, models, register_model,
)

# ctx.callbacks slots: the entries' addresses (0: the strategy has no such callback),
# then the addresses the entries are given
CB_ON_QUOTE = 0
CB_ON_TRADE = 1
CB_ON_FILL = 2
CB_ON_TIMER = 3
CB_CONTEXT = 4      # address of ctx.context_cell, where the context is kept
CB_KEPT = 5         # 1 once the runner has kept the context there
CB_STATE = 6        # address of the state row of symbol 0 (the mirror's)
CB_STATE_BYTES = 7  # bytes per state row
CB_PARAMS = 8       # address of the params record
CB_SLOTS = 9

CALLBACK_SLOTS = {"on_quote": CB_ON_QUOTE, "on_trade": CB_ON_TRADE, "on_fill": CB_ON_FILL,
                  "on_timer": CB_ON_TIMER}

# The entries' numba signature (engine/strategy_entries.py compiles each for it).
ENTRY_SIGNATURE = types.none(types.int64, types.int64, types.int64, types.int64)

CONTEXT_CELL_BYTES = 8192  # the context struct's size is checked against it (compile_strategy)


@intrinsic
def call_callback(typingctx, address, ctx_address, state_address, params_address, argument):
    """Call the entry at `address` with numba's calling convention; an exception it
    raised is raised here."""
    sig = types.none(types.int64, types.int64, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        argtys = list(ENTRY_SIGNATURE.args)
        fnty = context.call_conv.get_function_type(types.none, argtys)
        entry = builder.inttoptr(args[0], fnty.as_pointer())
        status, _ = context.call_conv.call_function(builder, entry, types.none, argtys,
                                                    list(args[1:]))
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def keep_context(typingctx, address, ctx):
    """Store the context struct `ctx` at `address` (ctx.context_cell's data)."""
    sig = types.none(types.int64, ctx)

    def codegen(context, builder, signature, args):
        cell = builder.inttoptr(args[0], context.get_value_type(signature.args[1]).as_pointer())
        builder.store(args[1], cell)
        return context.get_dummy_value()

    return sig, codegen


class ContextRef(types.Type):
    """What a callback's `ctx` is in an entry: the address of the kept context. Each
    `ctx.<field>` loads that field where it is used, so a call loads only the fields its
    path needs (a struct rebuilt at the entry's top would load them all, every call)."""

    def __init__(self):
        super().__init__(name="StrategyContextRef")


CONTEXT_REF = ContextRef()


@register_model(ContextRef)
class _ContextRefModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.IntType(8).as_pointer())


@infer_getattr
class _ContextRefAttributes(AttributeTemplate):
    key = CONTEXT_REF

    def generic_resolve(self, ref, attr):
        ctx_type = context_type()
        if attr in ctx_type.fields:
            return ctx_type.types[ctx_type.fields.index(attr)]
        return None


@lower_getattr_generic(ContextRef)
def _context_field(context, builder, ref_type, ref, attr):
    ctx_type = context_type()
    struct = context.get_value_type(ctx_type)
    cell = builder.bitcast(ref, struct.as_pointer())
    index = ctx_type.fields.index(attr)
    field = _load_scalars(builder, cgutils.gep_inbounds(builder, cell, 0, index),
                          struct.elements[index])
    return impl_ret_borrowed(context, builder, ctx_type.types[index], field)


@intrinsic
def context_at(typingctx, address):
    """The context kept at `address`, as a ContextRef."""
    sig = CONTEXT_REF(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

    return sig, codegen


def _load_scalars(builder, pointer, llvm_type):
    """The aggregate at `pointer` built from one load per scalar in it: a load of a
    scalar nobody uses is dropped, a load of a whole aggregate is not always split.

    Each load is marked invariant: the kept context never changes once kept (before
    the runner's first call of an entry), so LLVM may keep a field in a register across
    the callback's stores into the arrays, which it must otherwise assume may alias the
    cell and reload the field after each. Only entries load through a ContextRef; the
    runner that keeps the context never does (the inlined tier passes its struct)."""
    if isinstance(llvm_type, (ir.LiteralStructType, ir.ArrayType)):
        struct = isinstance(llvm_type, ir.LiteralStructType)
        value = cgutils.get_null_value(llvm_type)
        for i in range(len(llvm_type.elements) if struct else llvm_type.count):
            member = llvm_type.elements[i] if struct else llvm_type.element
            part = _load_scalars(builder, cgutils.gep_inbounds(builder, pointer, 0, i), member)
            value = builder.insert_value(value, part, i)
        return value
    load = builder.load(pointer)
    load.set_metadata("invariant.load", builder.module.add_metadata([]))
    return load


@intrinsic
def record_at(typingctx, address, dtype):
    """The record of numpy dtype `dtype` (a global, so a constant) at `address`."""
    if not isinstance(dtype, types.DType) or not isinstance(dtype.dtype, types.Record):
        return None
    record = dtype.dtype
    sig = record(types.int64, dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(record))

    return sig, codegen


@intrinsic
def record_address(typingctx, record):
    """The address of a record (a row of a ring or table)."""
    if not isinstance(record, types.Record):
        return None
    sig = types.int64(record)

    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], ir.IntType(64))

    return sig, codegen


_CONTEXT_TYPE = []


def context_type():
    """The numba type of every strategy's context (engine/strategy_context.py)."""
    if not _CONTEXT_TYPE:
        import numba
        from tickpipe.engine.strategy_context import sample_context
        ctx, _mirror, _params, _control = sample_context(1)
        _CONTEXT_TYPE.append(numba.typeof(ctx))
    return _CONTEXT_TYPE[0]


def context_bytes() -> int:
    """The context struct's size in bytes, as keep_context stores it."""
    from numba.core.registry import cpu_target
    target = cpu_target.target_context
    return target.get_abi_sizeof(target.get_value_type(context_type()))
