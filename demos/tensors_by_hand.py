"""Tensors by hand: the gradient of a matrix product and of softmax with cross-entropy, derived and checked on small matrices.

A Tensor operation takes whole arrays in and gives a whole array out, so
its derivative is not one number but a table of them. For Y = A @ B with
A of shape (2, 3) and B of shape (3, 4), every one of Y's 8 entries
depends on A's 6 entries: the Jacobian dY/dA is a table of 8 x 6 = 48
numbers. Backward never builds that table. What reaches the product from
above is G = dL/dY, one number per entry of Y (the same shape as Y), and
what the product must hand on is dL/dA, one number per entry of A. By the
chain rule each entry of dL/dA adds up what flows through every entry of
Y:

    dL/dA[i, k] = Σ_j G[i, j] · dY[i, j]/dA[i, k]

a row of 8 numbers (G) times the 48-number table, hence the name
vector-Jacobian product ("vjp"). Since Y[i, j] = Σ_k A[i, k] · B[k, j],
the derivative dY[i, j]/dA[i, k] is just B[k, j] (and Y's other rows do
not depend on A's row i at all), so the sum collapses into another matrix
product:

    dL/dA = G @ Bᵀ      (2, 4) @ (4, 3) -> (2, 3), A's shape
    dL/dB = Aᵀ @ G      (3, 2) @ (2, 4) -> (3, 4), B's shape

The shapes are a check in themselves: there is only one way to multiply G
with B (or A) that gives back the shape of the tensor whose gradient it
is. The lesson prints every matrix, builds the 48-number Jacobian once to
show that G times it gives the same numbers, and compares both formulas
with ``backward()`` and with finite differences.

Classification ends in softmax and cross-entropy: scores (logits) z of one
example become probabilities p_c = exp z_c / Σ exp z, and the loss of the
right class y is -log p_y = -z_y + log Σ exp z. Differentiating, the sum's
term gives p_c and the first term gives -1 at the right class only:

    dL/dz_c = p_c - [c = y]        that is, p - onehot(y)

divided by the number of examples when the loss is their mean. The
gradient lowers every wrong class's score in proportion to the
probability it was given and raises the right one by what it lacked, and
each row sums to zero. The lesson computes the scores as X @ W, so the
matrix-product rule then carries this gradient on to the weights,
dL/dW = Xᵀ @ (p - onehot(y)) / N, and checks both steps against backward.

Writes the two products with their gradients, the Jacobian, and the
softmax gradient of each example to --out, and a page that steps through
the matrix product's backward (``autodiff.explore``) where Graphviz's dot
is installed.
"""

import numpy as np

import nn
from autodiff import Tensor
from autodiff.viz import GraphvizNotFound
from autodiff.viz.explore import explore

from ._common import check, parse_args, report_pictures
from ._figures import figure, save

# Small whole numbers, so that every product can be checked by head.
A = [[1.0, 2.0, 0.0], [-1.0, 0.0, 3.0]]
B = [[2.0, 0.0, 1.0, -1.0], [0.0, 1.0, 1.0, 0.0], [1.0, -2.0, 0.0, 1.0]]
TARGET = [[1.0, 2.0, 2.0, 0.0], [1.0, -4.0, 0.0, 3.0]]  # chosen so that G = Y - TARGET is small whole numbers
# three examples of two features, scored for four classes
FEATURES = [[1.0, 2.0], [0.0, 1.0], [-1.0, 0.5]]
WEIGHTS = [[0.5, -1.0, 0.2, 0.0], [1.0, 0.3, -0.5, 0.8]]
LABELS = [0, 2, 3]
EPSILON = 1e-6
# agreement demanded of exact formulas (rounding only) and of central differences (error ~ ε²)
EXACT, NUMERIC = 1e-12, 1e-7


def show(name, array, digits=4):
    """Print ``array`` under its name and shape, numbers rounded to ``digits`` decimals (no -0)."""
    shown = np.round(np.asarray(array, dtype=np.float64), digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = np.array2string(shown, precision=digits, suppress_small=True, floatmode="maxprec")
    print(f"{name}  {tuple(np.shape(array))}\n" + "\n".join("  " + line for line in text.splitlines()))


def finite_differences(loss_of, array):
    """dL/d(array) entry by entry: (L(x + ε) - L(x - ε)) / 2ε, ``loss_of`` taking the array as numpy."""
    estimate = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        up, down = array.copy(), array.copy()
        up[index] += EPSILON
        down[index] -= EPSILON
        estimate[index] = (loss_of(up) - loss_of(down)) / (2 * EPSILON)
    return estimate


def matrix_product_loss(a, b):
    """L = ½ Σ (A @ B - TARGET)² as a graph, from numpy arrays: (L, A, B, Y), A and B leaves that need grads."""
    A_, B_ = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    A_.label, B_.label = "A", "B"
    Y = A_ @ B_
    Y.label = "Y"
    difference = Y - np.array(TARGET)
    difference.label = "Y - T"
    loss = 0.5 * (difference ** 2).sum()
    loss.label = "L"
    return loss, A_, B_, Y


def jacobian_of_product_wrt_a(b, rows):
    """dY/dA for Y = A @ B, as a matrix with a row per entry of Y and a column per entry of A (row-major).

    dY[i, j]/dA[i', k] = B[k, j] where i = i', else 0.
    """
    inner, columns = b.shape
    jacobian = np.zeros((rows * columns, rows * inner))
    for i in range(rows):
        for j in range(columns):
            for k in range(inner):
                jacobian[i * columns + j, i * inner + k] = b[k, j]
    return jacobian


def the_matrix_product():
    """Part 1: Y = A @ B, G = dL/dY, and dL/dA = G Bᵀ, dL/dB = Aᵀ G checked three ways."""
    a, b = np.array(A), np.array(B)
    print("Part 1. The gradient of a matrix product, Y = A @ B\n")
    show("A", a, 0)
    show("B", b, 0)
    loss, A_, B_, Y = matrix_product_loss(a, b)
    show("Y = A @ B, Y[i, j] = Σ_k A[i, k] · B[k, j]", Y.data, 0)
    G = Y.data - np.array(TARGET)
    print(f"\nloss L = ½ Σ (Y - T)² = {loss.item():g} for the target T = {TARGET};")
    show("its gradient at Y, G = dL/dY = Y - T (Y's shape)", G, 0)

    jacobian = jacobian_of_product_wrt_a(b, a.shape[0])
    zeros = int(np.sum(jacobian == 0))
    through_jacobian = (G.reshape(1, -1) @ jacobian).reshape(a.shape)
    structural = a.shape[0] * (a.shape[0] - 1) * b.shape[1] * a.shape[1]
    print(f"\nThe Jacobian dY/dA has {jacobian.shape[0]} x {jacobian.shape[1]} = {jacobian.size} entries; {zeros} "
          f"of them are zero here: {structural} whatever B holds (row i of Y ignores every other row of A), "
          f"the others where B has a zero.")
    print("G flattened to a row of 8, times it, gives dL/dA flattened: a vector-Jacobian product (vjp).")
    by_formula_a, by_formula_b = G @ b.T, a.T @ G
    print("Without the Jacobian: dL/dA[i, k] = Σ_j G[i, j] · B[k, j], the matrix product G @ Bᵀ,")
    print("and dL/dB[k, j] = Σ_i A[i, k] · G[i, j], the matrix product Aᵀ @ G.\n")
    show("dL/dA = G @ Bᵀ   (2, 4) @ (4, 3)", by_formula_a, 0)
    show("dL/dB = Aᵀ @ G   (3, 2) @ (2, 4)", by_formula_b, 0)

    loss.backward()
    show("\nA.grad after loss.backward()", A_.grad, 0)
    show("B.grad after loss.backward()", B_.grad, 0)
    numeric_a = finite_differences(lambda x: matrix_product_loss(x, b)[0].item(), a)
    numeric_b = finite_differences(lambda x: matrix_product_loss(a, x)[0].item(), b)
    error = max(np.abs(numeric_a - A_.grad).max(), np.abs(numeric_b - B_.grad).max())
    print(f"finite differences, (L(x + ε) - L(x - ε)) / 2ε for each of the {a.size + b.size} entries: "
          f"largest difference from backward {error:.1e}\n")

    claims = [
        (A_.grad.shape == a.shape and B_.grad.shape == b.shape and Y.grad.shape == Y.shape,
         "each gradient has the shape of its tensor: dL/dA (2, 3), dL/dB (3, 4), dL/dY (2, 4)"),
        (np.array_equal(Y.grad, G), "backward reaches Y with G = Y - T"),
        (np.sum(jacobian == 0) >= structural and np.allclose(through_jacobian, by_formula_a, rtol=0, atol=EXACT),
         f"G times the {jacobian.size}-entry Jacobian gives G @ Bᵀ, which never builds the Jacobian"),
        (np.allclose(A_.grad, by_formula_a, rtol=0, atol=EXACT) and np.allclose(B_.grad, by_formula_b, rtol=0,
                                                                                 atol=EXACT),
         "backward gives dL/dA = G @ Bᵀ and dL/dB = Aᵀ @ G"),
        (error < NUMERIC, f"the matrix product's gradients agree with finite differences to {NUMERIC:g}"),
    ]
    return {"A_grad": A_.grad, "B_grad": B_.grad, "G": G, "jacobian": jacobian, "finite_difference_error": error,
            "claims": claims}


def classifier_loss(weights):
    """Mean cross-entropy of the scores FEATURES @ weights: (L, W, Z), W a leaf that needs grads."""
    W = Tensor(weights, requires_grad=True)
    W.label = "W"
    Z = Tensor(np.array(FEATURES), label="X") @ W
    Z.label = "Z"
    loss = nn.cross_entropy(Z, np.array(LABELS))
    loss.label = "L"
    return loss, W, Z


def softmax_and_cross_entropy():
    """Part 2: Z = X @ W, L = mean cross-entropy; dL/dZ = (p - onehot(y)) / N and dL/dW = Xᵀ dL/dZ."""
    x, w, labels = np.array(FEATURES), np.array(WEIGHTS), np.array(LABELS)
    examples, classes = len(labels), w.shape[1]
    print("Part 2. Softmax and cross-entropy: the gradient p - onehot(y)\n")
    loss, W, Z = classifier_loss(w)
    show("scores Z = X @ W (an example per row, a class per column)", Z.data)
    probabilities = np.exp(Z.data - Z.data.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    show("p = softmax of each row", probabilities)
    onehot = np.eye(classes)[labels]
    print(f"right classes y = {LABELS}; loss = mean of -log p[n, y_n] = {loss.item():.4f}")
    by_formula = (probabilities - onehot) / examples
    show("dL/dZ = (p - onehot(y)) / N", by_formula)
    loss.backward()
    show("Z.grad after loss.backward()", Z.grad)
    numeric_z = finite_differences(lambda z: nn.cross_entropy(Tensor(z), labels).item(), Z.data.copy())
    weights_by_formula = x.T @ by_formula
    show("\nand one step further down, through Z = X @ W: dL/dW = Xᵀ @ dL/dZ", weights_by_formula)
    show("W.grad after loss.backward()", W.grad)
    numeric_w = finite_differences(lambda v: classifier_loss(v)[0].item(), w)
    error = max(np.abs(numeric_z - Z.grad).max(), np.abs(numeric_w - W.grad).max())
    print(f"finite differences: largest difference from backward {error:.1e}\n")

    rows = by_formula.sum(axis=1)
    right = by_formula[np.arange(examples), labels]
    wrong = np.ones_like(onehot, dtype=bool)
    wrong[np.arange(examples), labels] = False
    claims = [
        (np.allclose(Z.grad, by_formula, rtol=0, atol=EXACT),
         "backward through cross-entropy gives (p - onehot(y)) / N at the scores"),
        (np.allclose(rows, 0, atol=EXACT) and (right < 0).all() and (by_formula[wrong] > 0).all(),
         "each row sums to zero: a step against it raises the right class's score and lowers every other"),
        (np.allclose(W.grad, weights_by_formula, rtol=0, atol=EXACT),
         "the matrix-product rule carries it on: dL/dW = Xᵀ @ (p - onehot(y)) / N"),
        (error < NUMERIC, f"the classifier's gradients agree with finite differences to {NUMERIC:g}"),
    ]
    return {"probabilities": probabilities, "onehot": onehot, "Z_grad": Z.grad, "W_grad": W.grad,
            "finite_difference_error": error, "claims": claims}


# -- pictures ---------------------------------------------------------------------------


def draw_matrix(ax, matrix, left, top, name, digits=0, row_names=None, column_names=None, name_right=False):
    """``matrix`` as cells of side 1 with their numbers, its top-left corner at (left, top); colours red for
    positive and blue for negative, scaled to the matrix's own largest entry. ``name`` (with the shape) goes
    above it, or right of it with ``name_right``; ``row_names`` right of the rows, ``column_names`` above the
    columns. Returns its width."""
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    matrix = np.atleast_2d(matrix)
    height, width = matrix.shape
    reach = np.abs(matrix).max() or 1.0
    colours = colormaps["RdBu_r"]
    for (row, column), value in np.ndenumerate(matrix):
        ax.add_patch(Rectangle((left + column, top - row - 1), 1, 1, facecolor=colours(0.5 + 0.4 * value / reach),
                               edgecolor="0.4", linewidth=0.6))
        ax.text(left + column + 0.5, top - row - 0.5, f"{round(value, digits) + 0.0:.{digits}f}", ha="center",
                va="center", fontsize=9)
    for row, label in enumerate(row_names or []):
        ax.text(left + width + 0.15, top - row - 0.5, label, ha="left", va="center", fontsize=7, color="0.3")
    for column, label in enumerate(column_names or []):
        ax.text(left + column + 0.5, top + 0.1, label, ha="center", va="bottom", fontsize=7, color="0.3")
    title = f"{name}  ({height}x{width})"
    if name_right:
        ax.text(left + width + 0.3, top - height / 2, title, ha="left", va="center", fontsize=10)
    else:
        ax.text(left + width / 2, top + (0.6 if column_names else 0.3), title, ha="center", va="bottom",
                fontsize=10)
    return width


def draw_equation(ax, terms, top, digits=0):
    """A row ``name @ name = name`` of matrices (``terms``: (name, matrix) pairs), the symbols between them."""
    left = 0.0
    for position, (name, matrix) in enumerate(terms):
        left += draw_matrix(ax, matrix, left, top, name, digits)
        if position < len(terms) - 1:
            symbol = "=" if position == len(terms) - 2 else "@"
            ax.text(left + 0.6, top - np.atleast_2d(matrix).shape[0] / 2, symbol, ha="center", va="center",
                    fontsize=16)
            left += 1.2
    return left


def draw_products(part, path):
    """dL/dA = G @ Bᵀ and dL/dB = Aᵀ @ G, every matrix at its shape, every entry written in."""
    a, b, G = np.array(A), np.array(B), part["G"]
    fig, ax = figure(9, 6.5)
    width = draw_equation(ax, [("G = dL/dY", G), ("Bᵀ", b.T), ("dL/dA", part["A_grad"])], top=0)
    width = max(width, draw_equation(ax, [("Aᵀ", a.T), ("G = dL/dY", G), ("dL/dB", part["B_grad"])], top=-6.5))
    ax.set_xlim(-0.3, width + 0.3)
    ax.set_ylim(-10, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("the gradient of Y = A @ B: a matrix product each, shapes matching their tensors'\n"
                 "(red positive, blue negative)", fontsize=11)
    return save(fig, path)


def draw_jacobian(part, path):
    """The 48-entry Jacobian dY/dA beside G: each row weighted by G's entry, each column summed, gives dL/dA."""
    jacobian, G = part["jacobian"], part["G"]
    rows, columns = G.shape
    inner = part["A_grad"].shape[1]
    fig, ax = figure(8, 7)
    draw_matrix(ax, G.reshape(-1, 1), 0, 0, "G")
    left = 2.0
    draw_matrix(ax, jacobian, left, 0, "dY/dA",
                row_names=[f"Y[{i},{j}]" for i in range(rows) for j in range(columns)],
                column_names=[f"A[{i},{k}]" for i in range(rows) for k in range(inner)])
    ax.text(1.5, -jacobian.shape[0] / 2, "×", ha="center", va="center", fontsize=16)
    ax.text(left + jacobian.shape[1] / 2, -jacobian.shape[0] - 0.3,
            "↓ multiply each row by its entry of G, add up each column", ha="center", va="top", fontsize=9)
    draw_matrix(ax, part["A_grad"].reshape(1, -1), left, -jacobian.shape[0] - 1.4, "= dL/dA", name_right=True)
    ax.set_xlim(-0.3, left + jacobian.shape[1] + 4.2)
    ax.set_ylim(-jacobian.shape[0] - 2.7, 1.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("the vector-Jacobian product written out: G (Y's shape, flattened) times dY/dA\n"
                 "(zero wherever an entry of Y does not depend on that entry of A)", fontsize=10)
    return save(fig, path)


def draw_softmax_gradient(part, path):
    """For each example: p by class, the right class marked, and p - onehot(y), the gradient at its scores."""
    from matplotlib.patches import Patch

    probabilities, onehot = part["probabilities"], part["onehot"]
    examples, classes = probabilities.shape
    fig, axes = figure(3.2 * examples, 3.8, 1, examples, sharey=True)
    positions = np.arange(classes)
    for n, ax in enumerate(axes):
        ax.bar(positions - 0.2, probabilities[n], width=0.4, color="0.6")
        gradient = probabilities[n] - onehot[n]
        ax.bar(positions + 0.2, gradient, width=0.4, color=np.where(gradient < 0, "tab:blue", "tab:red"))
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(positions, [f"class {c}" + ("\n(right)" if c == LABELS[n] else "") for c in range(classes)],
                      fontsize=8)
        ax.set_title(f"example {n}: right class {LABELS[n]}", fontsize=10)
    axes[0].set_ylabel("p, and N · dL/dz")
    fig.legend(handles=[Patch(color="0.6", label="p = softmax(z)"),
                        Patch(color="tab:red", label="p - onehot(y) > 0: a step lowers this score"),
                        Patch(color="tab:blue", label="p - onehot(y) < 0: a step raises the right class's score")],
               loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.08))
    return save(fig, path)


def write_page(part, path):
    """The matrix product's backward as a page to step through; None without Graphviz's dot."""
    loss, *_ = matrix_product_loss(np.array(A), np.array(B))
    try:
        return explore(loss, path).path
    except GraphvizNotFound as error:
        print(f"left out the page {path.name}: {error}")
        return None


def main(argv=None):
    args = parse_args("tensors_by_hand", __doc__.splitlines()[0], argv)
    product = the_matrix_product()
    classifier = softmax_and_cross_entropy()
    pictures = [
        draw_products(product, args.out / "tensors_by_hand.png"),
        draw_jacobian(product, args.out / "jacobian.png"),
        draw_softmax_gradient(classifier, args.out / "softmax_gradient.png"),
    ]
    page = write_page(product, args.out / "matrix_product.html")
    report_pictures(args.out, pictures + ([page] if page else []))
    for holds, claim in product.pop("claims") + classifier.pop("claims"):
        check(holds, claim)
    return {"matrix_product": product, "softmax": classifier, "page": page}


if __name__ == "__main__":
    main()
