"""The chain-rule pass: sequential chains, fan-out (a value used twice) and residual connections."""

import numpy as np
import pytest
from conftest import numgrad, rel_err

from fastbp import layers as L
from fastbp.graph import Graph
from fastbp.reference import layers as R


def params_of(graph):
    return [(node.layer, name) for node in graph.nodes for name in ("W", "b") if hasattr(node.layer, name)]


def check_graph(graph, x, t):
    """Every parameter gradient and dx against central differences."""

    def f(_):
        return graph.forward(x, t)

    graph.forward(x, t)
    got = graph.backward()
    analytic = [getattr(layer, "d" + name).copy() for layer, name in params_of(graph)]
    want_dx = numgrad(lambda v: graph.forward(v, t), x)
    assert rel_err(got["x"], want_dx) < 1e-6
    for (layer, name), a in zip(params_of(graph), analytic, strict=True):
        assert rel_err(a, numgrad(f, getattr(layer, name))) < 1e-6, name


def affine(rng, n_in, n_out, mod=L):
    return mod.Affine(rng.standard_normal((n_in, n_out)) / np.sqrt(n_in), rng.standard_normal(n_out) * 0.1)


class Duplicate:
    """A two-input layer whose backward returns the *same* array for both inputs."""

    def forward(self, a, b):
        return a + b

    def backward(self, dout):
        return dout, dout


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("mod", [L, R], ids=["fastbp", "numpy"])
def test_fan_out_sums_gradients(rng, mod, validate):
    #  x -> A -> tanh -> h ;  h -> B -> u ;  h -> C -> v ;  u + v -> loss
    g = Graph(("x", "t"), wrt=("x",), validate=validate)
    g.add(affine(rng, 6, 5, mod), "x")
    h = g.add(mod.Tanh())
    u = g.add(affine(rng, 5, 4, mod), h)
    v = g.add(affine(rng, 5, 4, mod), h)
    s = g.add(L.AddLayer(), (u, v))
    g.add(mod.SoftmaxWithLoss(), (s, "t"), n_grads=1)
    check_graph(g, rng.standard_normal((3, 6)), np.array([0, 3, 1]))


@pytest.mark.parametrize("validate", [True, False])
def test_residual_connection(rng, validate):
    #  x -> A -> relu -> r ;  x + r -> B -> loss   (x reaches the sum along two paths)
    g = Graph(("x", "t"), wrt=("x",), validate=validate)
    g.add(affine(rng, 4, 4), "x")
    r = g.add(L.Relu())
    s = g.add(L.AddLayer(), ("x", r))
    g.add(affine(rng, 4, 3), s)
    g.add(L.SoftmaxWithLoss(), (g.nodes[-1].output, "t"), n_grads=1)
    x = rng.standard_normal((5, 4))
    x = np.where(np.abs(x) < 0.05, 0.1, x)
    check_graph(g, x, np.array([0, 1, 2, 1, 0]))


def test_shared_gradient_array_is_not_corrupted_by_an_in_place_layer(rng):
    # Relu writes its result into the gradient it receives; the graph must not hand it an array that
    # is also the gradient of another value.
    g = Graph(("x", "t"), wrt=("x",))
    a = g.add(affine(rng, 3, 3), "x")
    r = g.add(L.Relu(), a)
    s = g.add(Duplicate(), (r, "x"))
    g.add(L.SoftmaxWithLoss(), (s, "t"), n_grads=1)
    check_graph(g, rng.standard_normal((2, 3)) + 0.05, np.array([2, 0]))


def test_sequential_graph_skips_dx_for_the_input(rng):
    a1, a2 = affine(rng, 5, 4), affine(rng, 4, 2)
    g = Graph.sequential([a1, L.Relu(), a2], validate=False)
    assert not g.nodes[0].needs_dx and g.nodes[1].needs_dx
    g.forward(rng.standard_normal((3, 5)))
    assert g.backward(np.ones((3, 2))) == {}
    assert a1.dW is not None and a1._bufs.get("dx") is None  # the first layer never made dx


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("mod", [L, R])
def test_a_chain_is_differentiated_through_the_one_loop(rng, mod, validate):
    a1, a2 = affine(rng, 5, 4, mod), affine(rng, 4, 3, mod)
    g = Graph(("x",), wrt=("x",), validate=validate)
    for layer in (a1, mod.Relu(), mod.Dropout(0.0), a2):
        g.add(layer, kwargs=("train_flg",) if isinstance(layer, mod.Dropout) else ())
    x = rng.standard_normal((3, 5))
    w = rng.standard_normal((3, 3))

    def f(v):
        return float(np.sum(g.forward(v, train_flg=True) * w))

    f(x)
    dx = g.backward(w)["x"]
    assert rel_err(dx, numgrad(f, x)) < 1e-6
    f(x)
    g.backward(w)
    for layer in (a1, a2):
        dW = layer.dW.copy()
        assert rel_err(dW, numgrad(lambda _: f(x), layer.W)) < 1e-6


def test_graph_rejects_bad_wiring(rng):
    g = Graph(("x",))
    a = affine(rng, 2, 2)
    g.add(a)
    with pytest.raises(ValueError, match="neither graph inputs nor outputs"):
        g.add(L.Relu(), "nope")
    with pytest.raises(ValueError, match="a layer object may appear once"):
        g.add(a)
    with pytest.raises(ValueError, match="already defined"):
        g.add(L.Relu(), output="x")
    with pytest.raises(ValueError, match="wrt names"):
        Graph(("x",), wrt=("y",))
    with pytest.raises(TypeError, match="expected 1 inputs"):
        g.forward(np.ones((1, 2)), np.ones(1))


def test_graph_chain_follows_validate_changes_and_stops_at_a_none_gradient():
    from fastbp.graph import Graph

    rng = np.random.default_rng(4)
    g = Graph(("x",), validate=False)
    g.add(L.Affine(rng.standard_normal((5, 4)), np.zeros(4)))
    g.add(L.Relu())
    g.forward(rng.standard_normal((3, 5)))
    g.validate = True
    with pytest.raises(ValueError, match="NaN"):
        g.forward(np.full((3, 5), np.nan))

    class NoGrad:
        def forward(self, x):
            return x * 1

        def backward(self, dout):
            return None

    h = Graph(("x",), wrt=("x",))
    h.add(L.Affine(rng.standard_normal((5, 4)), np.zeros(4)))
    h.add(NoGrad())
    h.forward(rng.standard_normal((3, 5)))
    assert h.backward(np.ones((3, 4))) == {}


def test_until_an_input_returns_it_and_an_unknown_name_is_refused(rng):
    g = Graph(("x", "t"))
    g.add(affine(rng, 3, 2), output="scores")
    x = rng.standard_normal((2, 3))
    assert g.forward(x, None, until="x") is x
    with pytest.raises(ValueError, match="until names no value"):
        g.forward(x, None, until="nope")


def test_a_node_of_several_inputs_must_return_a_tuple(rng):
    class Bad:
        def forward(self, a, b):
            return a + b

        def backward(self, dout):
            return dout  # one array for two inputs

    g = Graph(("x", "y"), wrt=("x", "y"))
    g.add(Bad(), ("x", "y"))
    g.forward(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="must return a tuple of 2 gradients"):
        g.backward(np.ones(3))


def test_a_user_layer_with_a_train_flg_parameter_gets_it(rng):
    class BookDropout:  # written the book's way: train_flg is a parameter, no uses_train_flg
        def forward(self, x, train_flg=True):
            self.seen = train_flg
            return x * 1

        def backward(self, dout):
            return dout

    layer = BookDropout()
    g = Graph(("x",))
    g.add(layer)
    g.forward(np.ones(2), train_flg=False)
    assert layer.seen is False
    g.forward(np.ones(2), train_flg=True)
    assert layer.seen is True


@pytest.mark.parametrize("bad", [None, 1.5, np.zeros((2, 3)), {"a": 1, "b": 2}, (1, 2, 3)])
def test_a_node_with_side_outputs_must_return_a_tuple_of_them(bad):
    class Two:
        def forward(self, x):
            return bad

        def backward(self, dout):
            return dout

    g = Graph(("x",))
    g.add(Two(), output="y", side_outputs=("s",))
    with pytest.raises(TypeError, match=r"Two.forward must return a tuple of 2 values \('y', 's'\)"):
        g.forward(np.ones(3))
