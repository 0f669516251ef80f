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
import numpy as np
from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic

AVAILABLE = _llvm.llvm_version_info >= (19,) or config.DISABLE_JIT  # (plain Python: see the end)


def _target_has_avx512() -> bool:
    """Whether Numba compiles for a CPU with AVX-512F: the features it was told to use
    (NUMBA_CPU_FEATURES; NUMBA_CPU_NAME=generic sets none), else the host's."""
    if config.CPU_FEATURES is not None:
        return "+avx512f" in config.CPU_FEATURES.split(",")
    if config.CPU_NAME not in (None, "host"):
        return False  # a named CPU without a feature list: do not guess
    return bool(_llvm.get_host_cpu_features().get("avx512f", False))


# The compress is one instruction with AVX-512. Elsewhere LLVM expands it lane by lane, slower than
# the scalar listing (measured here, 1000 MNIST images float32: 1096 us for AVX2 code vs 578 us).
NATIVE = AVAILABLE and not config.DISABLE_JIT and _target_has_avx512()


def _flat(t):
    """A 1-D C-contiguous array type: the code below addresses its data pointer directly."""
    return isinstance(t, types.Array) and t.ndim == 1 and t.layout == "C"


def _declare(builder, ret, args, name):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, args), name)


@intrinsic
def compress_nonzero(typingctx, xf, start, k0, idx, val, p):
    """See the module docstring. xf, val: 1-D C arrays of one float dtype, or float32 into float64
    (the values widened on the way: a float32 input to a float64 network is listed without a
    converted copy); idx: int32."""
    if not all(_flat(a) for a in (xf, idx, val)):
        return None
    dt = xf.dtype
    widen = dt == types.float32 and val.dtype == types.float64
    if dt not in (types.float32, types.float64) or not (val.dtype == dt or widen):
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
        if widen:
            wide = ir.VectorType(context.get_value_type(val.dtype), lanes)
            builder.store(builder.fpext(packed, wide), builder.bitcast(dst, wide.as_pointer()), align=8)
        else:
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


# Row updates y[yo:yo+w] += v x[xo:xo+w] as straight vector code. Written as Numba loops, each
# update began with a run-time check that y and x do not overlap (Numba cannot mark arrays as
# non-aliasing) and spilled registers to the stack around it. Here a row is cut into 64-byte vectors
# plus one shorter tail vector, the width a compile-time constant. Measured here on 1000 MNIST images,
# width 50 (us, Numba loops -> these): x W float32 539 -> 355, float64 771 -> 635; x^T dout float32
# 651 -> 548, float64 1080 -> 920. The caller guarantees that the slices are in bounds and that a
# destination row overlaps no source row (nor, in scatter_axpy4, another destination row).


def _chunks(width, lanes):
    full = width - width % lanes
    return [(o, lanes) for o in range(0, full, lanes)] + ([(full, width % lanes)] if width % lanes else [])


class _Rows:
    """Codegen helpers for one call: flat array data pointers, offsets, vectors of one float dtype."""

    def __init__(self, context, builder, dt):
        self.context, self.builder, self.dt = context, builder, dt
        self.ft, self.align = context.get_value_type(dt), dt.bitwidth // 8

    def data(self, ty, value):
        return self.context.make_array(ty)(self.context, self.builder, value).data

    def int64(self, value, ty):
        return self.context.cast(self.builder, value, ty, types.int64)

    def items(self, tup, ty, to):
        return [
            self.context.cast(self.builder, self.builder.extract_value(tup, i), ty.dtype, to)
            for i in range(len(ty))
        ]

    def ptr(self, data, offset, chunk, n):
        b = self.builder
        vt = ir.VectorType(self.ft, n)
        return b.bitcast(
            b.gep(data, [b.add(offset, ir.Constant(ir.IntType(64), chunk))], inbounds=True), vt.as_pointer()
        )

    def load(self, ptr):
        return self.builder.load(ptr, align=self.align)

    def store(self, value, ptr):
        self.builder.store(value, ptr, align=self.align)

    def splat(self, value, n):
        b = self.builder
        vt = ir.VectorType(self.ft, n)
        one = b.insert_element(ir.Constant(vt, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
        return b.shuffle_vector(
            one, ir.Constant(vt, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), n), [0] * n)
        )

    def fmuladd(self, a, x, y, n):  # a x + y, fused where the CPU has FMA
        vt = ir.VectorType(self.ft, n)
        f = _declare(self.builder, vt, [vt, vt, vt], f"llvm.fmuladd.v{n}f{self.dt.bitwidth}")
        return self.builder.call(f, [a, x, y])


def _row_types(y, x, width):
    """(dtype, lanes per 64 bytes, width) when y, x are float arrays of one dtype and width a literal."""
    if not (_flat(y) and _flat(x)) or y.dtype != x.dtype:
        return None
    if y.dtype not in (types.float32, types.float64) or not isinstance(width, types.IntegerLiteral):
        return None
    return y.dtype, 64 // (y.dtype.bitwidth // 8), width.literal_value


def _quad(t):
    return isinstance(t, types.UniTuple) and len(t) == 4


def _row4_types(y, x, quads, width):
    """_row_types, when the offset and value arguments ``quads`` are 4-tuples; else None."""
    found = _row_types(y, x, width)
    return found if found is not None and all(_quad(q) for q in quads) else None


def _row4_operands(r, sig, args, quad_at):
    """(y's data, x's data, the 4-tuple of offsets as int64, the 4 values in the dtype) of a 4-row
    intrinsic whose offsets tuple is argument ``quad_at`` (the values are argument 4)."""
    yd, xd = r.data(sig.args[0], args[0]), r.data(sig.args[2], args[2])
    offs = r.items(args[quad_at], sig.args[quad_at], types.int64)
    return yd, xd, offs, r.items(args[4], sig.args[4], r.dt)


@intrinsic(prefer_literal=True)
def row_axpy(typingctx, y, yo, x, xo, v, width):
    """y[yo:yo+width] += v * x[xo:xo+width]; y, x: flat C arrays of one float dtype, width literal."""
    found = _row_types(y, x, width)
    if found is None:
        return None
    dt, lanes, w = found

    def codegen(context, builder, sig, args):
        r = _Rows(context, builder, dt)
        yd, xd = r.data(sig.args[0], args[0]), r.data(sig.args[2], args[2])
        yo_, xo_ = r.int64(args[1], sig.args[1]), r.int64(args[3], sig.args[3])
        v_ = context.cast(builder, args[4], sig.args[4], dt)
        for c, n in _chunks(w, lanes):
            yp = r.ptr(yd, yo_, c, n)
            r.store(r.fmuladd(r.splat(v_, n), r.load(r.ptr(xd, xo_, c, n)), r.load(yp), n), yp)
        return context.get_dummy_value()

    return types.none(y, yo, x, xo, v, width), codegen


@intrinsic(prefer_literal=True)
def gather_axpy4(typingctx, y, yo, x, xos, vs, width):
    """y[yo:yo+width] += (v0 x[xo0:] + v1 x[xo1:]) + (v2 x[xo2:] + v3 x[xo3:]), each slice width
    long; xos, vs: 4-tuples. Summed as a tree, so one add joins y (a short chain through y)."""
    found = _row4_types(y, x, (xos, vs), width)
    if found is None:
        return None
    dt, lanes, w = found

    def codegen(context, builder, sig, args):
        r = _Rows(context, builder, dt)
        yd, xd, offs, vals = _row4_operands(r, sig, args, 3)
        yo_ = r.int64(args[1], sig.args[1])
        for c, n in _chunks(w, lanes):
            t = [(r.splat(vals[i], n), r.load(r.ptr(xd, offs[i], c, n))) for i in range(4)]
            a = r.fmuladd(*t[1], builder.fmul(*t[0]), n)
            b = r.fmuladd(*t[3], builder.fmul(*t[2]), n)
            yp = r.ptr(yd, yo_, c, n)
            r.store(builder.fadd(r.load(yp), builder.fadd(a, b)), yp)
        return context.get_dummy_value()

    return types.none(y, yo, x, xos, vs, width), codegen


@intrinsic(prefer_literal=True)
def scatter_axpy4(typingctx, y, yos, x, xo, vs, width):
    """y[yo_i:yo_i+width] += v_i * x[xo:xo+width] for i < 4; yos, vs: 4-tuples. All four rows are
    loaded before any is stored back."""
    found = _row4_types(y, x, (yos, vs), width)
    if found is None:
        return None
    dt, lanes, w = found

    def codegen(context, builder, sig, args):
        r = _Rows(context, builder, dt)
        yd, xd, offs, vals = _row4_operands(r, sig, args, 1)
        xo_ = r.int64(args[3], sig.args[3])
        for c, n in _chunks(w, lanes):
            xs = r.load(r.ptr(xd, xo_, c, n))
            ps = [r.ptr(yd, offs[i], c, n) for i in range(4)]
            ys = [r.load(p) for p in ps]
            for i in range(4):
                r.store(r.fmuladd(r.splat(vals[i], n), xs, ys[i], n), ps[i])
        return context.get_dummy_value()

    return types.none(y, yos, x, xo, vs, width), codegen


# The float types exp2 builds from an integer's bits: (its width, exponent bias, mantissa bits).
_EXP2_FORMATS = {types.int32: (types.float32, ir.FloatType(), 32, 127, 23),
                 types.int64: (types.float64, ir.DoubleType(), 64, 1023, 52)}  # fmt: skip


@intrinsic
def exp2(typingctx, k):
    """2.0 ** k built from its bits (the exponent field k + bias): a float32 for an int32 k in
    [-126, 127], a float64 for an int64 k in [-1022, 1023]. ldexp would do, but it is a library call
    that keeps a loop from vectorising."""
    if k not in _EXP2_FORMATS:
        return None
    result, float_ir, width, bias, mantissa = _EXP2_FORMATS[k]

    def codegen(context, builder, sig, args):
        int_ir = ir.IntType(width)
        bits = builder.shl(builder.add(args[0], ir.Constant(int_ir, bias)), ir.Constant(int_ir, mantissa))
        return builder.bitcast(bits, float_ir)

    return result(k), codegen


if config.DISABLE_JIT:  # intrinsics exist only in compiled code: the same operations in plain Python

    def exp2(k):  # noqa: F811
        return (np.float32 if isinstance(k, np.int32) else np.float64)(2.0) ** int(k)

    def compress_nonzero(xf, start, k0, idx, val, p):  # noqa: F811
        lanes = 64 // xf.itemsize
        block = xf[start : start + lanes]
        nz = [i for i in range(lanes) if block[i] != 0]
        for j, i in enumerate(nz):
            idx[p + j], val[p + j] = k0 + i, block[i]
        return len(nz), int(bool(np.isfinite(block).all()))

    # Offsets arrive as np.uint64: int() first, since NumPy 1.x adds a uint64 and a Python int as
    # float64 (NEP 50 changed that in 2.0), which is no slice index.
    def row_axpy(y, yo, x, xo, v, width):  # noqa: F811
        yo, xo = int(yo), int(xo)
        y[yo : yo + width] += v * x[xo : xo + width]

    def gather_axpy4(y, yo, x, xos, vs, width):  # noqa: F811
        yo, (o0, o1, o2, o3) = int(yo), (int(o) for o in xos)
        a = vs[0] * x[o0 : o0 + width] + vs[1] * x[o1 : o1 + width]
        b = vs[2] * x[o2 : o2 + width] + vs[3] * x[o3 : o3 + width]
        y[yo : yo + width] += a + b

    def scatter_axpy4(y, yos, x, xo, vs, width):  # noqa: F811
        xo = int(xo)
        for o, v in zip(yos, vs, strict=True):
            y[int(o) : int(o) + width] += v * x[xo : xo + width]
