"""A vector operation Numba does not express: listing the nonzeros of a 64-byte block.

``compress_nonzero(xf, start, k0, idx, val, p)`` loads the 64 bytes of ``xf`` from ``start``
(L = 16 float32 or 8 float64 lanes), packs its nonzero lanes to the front with LLVM's
``llvm.experimental.vector.compress`` (one ``vcompressps``/``vcompresspd`` on AVX-512) and stores
the packed values at ``val[p:]`` and their positions ``k0 + lane`` (int32) at ``idx[p:]``. It
returns ``(count, finite)``: how many lanes were nonzero (NaN counts as nonzero, -0.0 as zero) and
1 if all L lanes are finite, else 0.

All L slots of ``val[p:]`` and ``idx[p:]`` are written (lanes past ``count`` hold garbage that the
next block overwrites), so the caller guarantees ``p + L <= val.size``, ``idx.size`` and
``start + L <= xf.size``. The compress goes to a register and then one plain store: on AMD Zen 4
the compress-to-memory form is microcoded and far slower.

A scalar loop cannot do this without a branch per element or a store per element: listing the
nonzeros of 1000 MNIST images took 570-690 us that way here and takes 110-130 us (float32) with
this (``kernels/sparse_input.py``). ``AVAILABLE`` says whether it can be used: LLVM 19 or newer
(the intrinsic's first release) and the JIT enabled.
"""

import llvmlite.binding as _llvm
from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic

AVAILABLE = _llvm.llvm_version_info >= (19,) and not config.DISABLE_JIT
# Native on AVX-512 (one instruction); elsewhere LLVM expands it lane by lane.
NATIVE = AVAILABLE and bool(_llvm.get_host_cpu_features().get("avx512f", False))


def _declare(builder, ret, args, name):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, args), name)


@intrinsic
def compress_nonzero(typingctx, xf, start, k0, idx, val, p):
    """See the module docstring. xf, val: 1-D C arrays of one float dtype; idx: int32."""
    dt = xf.dtype
    if not isinstance(xf, types.Array) or dt not in (types.float32, types.float64) or val.dtype != dt:
        return None
    if idx.dtype != types.int32:
        return None
    lanes = 64 // (dt.bitwidth // 8)
    suffix = f"v{lanes}f{dt.bitwidth}"
    sig = types.UniTuple(types.int64, 2)(xf, start, k0, idx, val, p)

    def codegen(context, builder, signature, args):
        xa, st, k, ia, va, pp = args
        ft = context.get_value_type(dt)
        vt, ivt = ir.VectorType(ft, lanes), ir.VectorType(ir.IntType(32), lanes)
        mt, bits = ir.VectorType(ir.IntType(1), lanes), ir.IntType(lanes)
        align = dt.bitwidth // 8
        src = context.make_array(signature.args[0])(context, builder, xa).data
        idx_data = context.make_array(signature.args[3])(context, builder, ia).data
        val_data = context.make_array(signature.args[4])(context, builder, va).data
        st = context.cast(builder, st, signature.args[1], types.int64)
        pp = context.cast(builder, pp, signature.args[5], types.int64)
        k = context.cast(builder, k, signature.args[2], types.int64)

        v = builder.load(builder.bitcast(builder.gep(src, [st], inbounds=True), vt.as_pointer()), align=align)
        mask = builder.fcmp_unordered("!=", v, ir.Constant(vt, None))  # NaN != 0 too
        compress = _declare(builder, vt, [vt, mt, vt], f"llvm.experimental.vector.compress.{suffix}")
        packed = builder.call(compress, [v, mask, ir.Constant(vt, ir.Undefined)])
        dst = builder.gep(val_data, [pp], inbounds=True)
        builder.store(packed, builder.bitcast(dst, vt.as_pointer()), align=align)

        k32 = builder.trunc(k, ir.IntType(32))
        kv = builder.insert_element(ir.Constant(ivt, ir.Undefined), k32, ir.Constant(ir.IntType(32), 0))
        kv = builder.shuffle_vector(kv, ir.Constant(ivt, ir.Undefined), ir.Constant(ivt, [0] * lanes))
        pos = builder.add(kv, ir.Constant(ivt, list(range(lanes))))
        icompress = _declare(builder, ivt, [ivt, mt, ivt], f"llvm.experimental.vector.compress.v{lanes}i32")
        packed_pos = builder.call(icompress, [pos, mask, ir.Constant(ivt, ir.Undefined)])
        dst = builder.gep(idx_data, [pp], inbounds=True)
        builder.store(packed_pos, builder.bitcast(dst, ivt.as_pointer()), align=4)

        ctpop = _declare(builder, bits, [bits], f"llvm.ctpop.i{lanes}")
        count = builder.zext(builder.call(ctpop, [builder.bitcast(mask, bits)]), ir.IntType(64))
        fabs = _declare(builder, vt, [vt], f"llvm.fabs.{suffix}")
        finite = builder.fcmp_ordered("<", builder.call(fabs, [v]), ir.Constant(vt, [float("inf")] * lanes))
        all_finite = builder.icmp_unsigned(
            "==", builder.bitcast(finite, bits), ir.Constant(bits, (1 << lanes) - 1)
        )
        return context.make_tuple(
            builder, signature.return_type, [count, builder.zext(all_finite, ir.IntType(64))]
        )

    return sig, codegen
