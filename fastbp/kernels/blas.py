"""NumPy's own BLAS, called from compiled code, so that a whole training step can be one call.

Between 5 and ~100 samples a step of a small MLP is a dozen BLAS products of tens of microseconds,
and the Python between them (the graph, the nodes, a dispatch per kernel) cost as much again here
(784-50-10 float32 at batch 32: 192 us a step against 120 us for the same calls in a bare loop).
``gemm`` calls the ``cblas_?gemm`` of the BLAS NumPy itself is linked with (its wheels carry
scipy-openblas, 64-bit integers, symbols ``scipy_cblas_dgemm64_``/``scipy_cblas_sgemm64_``), with the
arguments ``np.dot`` passes for the same C-contiguous operands: the same routine on the same data,
so the same numbers as ``np.dot`` (the tests compare them bit for bit), and the same thread setting.

The routine's address is found once (``fastbp._blas_lib.address``) and passed in as an integer:
the compiled code holds no address of this process, so it is cached on disk like every other
kernel. Where NumPy's BLAS is not that library (a NumPy built against MKL or Accelerate, say), the
address is 0 and the callers keep their NumPy path.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import config, types
from numba.extending import intrinsic

from .._jit import jit

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


@intrinsic
def _cblas_gemm(typingctx, addr, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc):
    """cblas_?gemm(RowMajor, trans_a, trans_b, m, n, k, 1, a, lda, b, ldb, 0, c, ldc) through the
    function at ``addr``; a, b, c: arrays of one float dtype (their data pointers are passed)."""
    if not all(isinstance(t, types.Array) for t in (a, b, c)):
        return None
    dt = c.dtype
    if a.dtype != dt or b.dtype != dt or dt not in (types.float32, types.float64):
        return None

    def codegen(context, builder, sig, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fl = context.get_value_type(dt)
        fnty = ir.FunctionType(
            ir.VoidType(),
            [i32, i32, i32, i64, i64, i64, fl, fl.as_pointer(), i64, fl.as_pointer(), i64, fl,
             fl.as_pointer(), i64],
        )  # fmt: skip
        fn = builder.inttoptr(args[0], fnty.as_pointer())

        def data(i):
            return context.make_array(sig.args[i])(context, builder, args[i]).data

        def int64(i):
            return context.cast(builder, args[i], sig.args[i], types.int64)

        def int32(i):
            return builder.trunc(int64(i), i32)

        one, zero = ir.Constant(fl, 1.0), ir.Constant(fl, 0.0)
        builder.call(
            fn,
            [ir.Constant(i32, _ROW_MAJOR), int32(1), int32(2), int64(3), int64(4), int64(5), one, data(6),
             int64(7), data(8), int64(9), zero, data(10), int64(11)],
        )  # fmt: skip
        return context.get_dummy_value()

    return types.none(addr, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc), codegen


@jit
def gemm(addr, a, a_t, b, b_t, out):
    """out = op(a) op(b), op(z) = z.T if z_t else z; a, b, out C-contiguous 2-D arrays of one dtype,
    out (M, N). The call ``np.dot`` makes for the same operands (a transposed C array is the
    F-contiguous operand NumPy hands to BLAS as "transposed")."""
    m, n = out.shape
    k = a.shape[0] if a_t else a.shape[1]
    _cblas_gemm(
        addr, _TRANS if a_t else _NO_TRANS, _TRANS if b_t else _NO_TRANS, m, n, k, a, a.shape[1], b,
        b.shape[1], out, n,
    )  # fmt: skip


if config.DISABLE_JIT:  # intrinsics exist only in compiled code: the same product in plain Python

    def gemm(addr, a, a_t, b, b_t, out):  # noqa: F811
        np.dot(a.T if a_t else a, b.T if b_t else b, out=out)
