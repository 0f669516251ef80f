"""fastbp.layers.simple: the book's MulLayer and AddLayer (chapter 5's apple example) and bad input."""

import numpy as np
import pytest

from fastbp import layers as L


def test_mul_and_add_layers_compute_the_books_apple_example():
    apple, apple_num, tax = 100, 2, 1.1
    mul_apple, mul_tax = L.MulLayer(), L.MulLayer()
    price = mul_tax.forward(mul_apple.forward(apple, apple_num), tax)
    assert price == pytest.approx(220.0)
    dapple_price, dtax = mul_tax.backward(1)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert (dapple, dapple_num, dtax) == pytest.approx((2.2, 110.0, 200.0))

    add = L.AddLayer()
    assert add.forward(130, 585) == 715
    dx, dy = add.backward(np.ones(3))
    assert dx is not dy


@pytest.mark.parametrize("cls", [L.MulLayer, L.AddLayer])
def test_scalar_layers_reject_non_numbers(cls):
    name = cls.__name__
    with pytest.raises(TypeError, match=f"{name}.forward: x must be a real number"):
        cls().forward("1", 2)
    with pytest.raises(TypeError, match=f"{name}.forward: y must be numeric"):
        cls().forward(1.0, np.array(["a"]))
    with pytest.raises(ValueError, match=f"{name}.forward: x and y must broadcast"):
        cls().forward(np.ones(2), np.ones(3))
