"""L2 weight decay: the penalty 0.5 lambda sum(W^2) and its gradient lambda W."""

from .._jit import jit


@jit
def l2_penalty(W):
    """sum(W^2) over all elements (float64 accumulator)."""
    wf = W.ravel()
    s = 0.0
    for i in range(wf.size):
        s += wf[i] * wf[i]
    return s


@jit
def l2_backward(dW, W, lam, out):
    """out = dW + lam W: the gradient with the weight-decay term (dW itself is left as it is)."""
    df, wf, of = dW.ravel(), W.ravel(), out.ravel()
    a = df.dtype.type(lam)
    for i in range(df.size):
        of[i] = df[i] + a * wf[i]
