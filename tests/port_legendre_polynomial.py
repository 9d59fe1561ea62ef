"""Fitting sin(x) on [-π, π] with a + b·P3(c + d·x), where P3 is a Function of our own.

This is PyTorch's tutorial program "defining new autograd functions"
(``polynomial_custom_function.py``) as its idioms write it, with PyTorch's
module renamed to ``autodiff``: a Function whose backward is written by hand and
reads what forward saved, and gradient descent by hand, updating the
coefficients under ``no_grad`` and clearing their gradients. The test
(tests/test_function.py) runs this text as it is and, renamed back, under
PyTorch, and compares the numbers it prints.
"""

import math

import autodiff


class LegendreP3(autodiff.autograd.Function):
    """The Legendre polynomial P3(z) = (5z³ - 3z) / 2, with its derivative written by hand."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return 0.5 * (5 * z ** 3 - 3 * z)

    @staticmethod
    def backward(ctx, grad_output):
        # dL/dz = dL/dP3 · P3'(z), with P3'(z) = (15z² - 3) / 2
        (z,) = ctx.saved_tensors
        return grad_output * 0.5 * (15 * z ** 2 - 3)


dtype = autodiff.float
device = autodiff.device("cpu")

x = autodiff.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = autodiff.sin(x)

# Started close to the answer: from arbitrary weights this step size diverges.
a = autodiff.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
b = autodiff.full((), -1.0, device=device, dtype=dtype, requires_grad=True)
c = autodiff.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
d = autodiff.full((), 0.3, device=device, dtype=dtype, requires_grad=True)

learning_rate = 5e-6
P3 = LegendreP3.apply
for step in range(2000):
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    if step % 100 == 99:
        print(step, loss.item())

    loss.backward()

    with autodiff.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None

print(f"Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)")
