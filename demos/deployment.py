"""A trained CNN leaves as an ONNX file, and ONNX Runtime, knowing nothing of this project, predicts every test digit the same.

A model is trained where gradients are at hand and used somewhere else: a
server in C++ or C#, a phone, a web page. Those places do not run Python
or this project; they run a runtime that reads a file describing the
computation. ONNX is the format they share, and ONNX Runtime the
reference that runs it.

``nn.export_onnx(model, example, "model.onnx")`` runs the model once on the
example, in evaluation mode, recording every operation (the recording
``autodiff.compile`` builds its programs from), and writes the graph: the
example's shape as the input (its first axis, the batch, of any size), the
weights under their ``state_dict`` names, and one ONNX operator for each
recorded operation: ``Conv`` for a convolution, ``Relu``, ``MaxPool``, a
``Reshape`` for the flattening, ``Gemm`` (x Wᵀ + b) for the linear layer.
Nothing of the Python code is in the file, only the arithmetic.

The lesson trains the small CNN of ``weight_sharing`` on scikit-learn's
8x8 digits, exports it from a single example digit, and hands the file to
ONNX Runtime, which scores the whole test set in one batch. The scores
agree with this project's to float32 rounding, and so every predicted
class is the same.

Writes model.onnx, and a picture of the file's operators beside both
engines' scores of every test digit, to --out.
"""

import time

import numpy as np

import autodiff
from autodiff import nn

from ._common import check, parse_args, report_pictures
from ._figures import figure, save
from .weight_sharing import EPOCHS, QUICK_EPOCHS, QUICK_TARGET, TARGET, cnn, load_digits_split, train

# float32's rounding, relative to the largest score: the two engines sum in different orders
SCORE_TOLERANCE = 1e-5


def import_runtime():
    """ONNX Runtime, or an ImportError that says how to install it (and onnx, which writes the file)."""
    try:
        import onnx  # noqa: F401  (export_onnx needs it; said here, before training, rather than after)
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            f"this lesson writes an ONNX file and runs it in ONNX Runtime, and {error.name} is not installed: "
            'pip install onnx onnxruntime (pip install -e ".[demos]" in this checkout brings both)'
        ) from error
    return onnxruntime


def operators(path):
    """(value name, operator, its inputs) for each operator in the file, in order, and the file's shapes by
    value name (ONNX's own shape inference, the batch axis named "batch")."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    graph = model.graph
    shapes = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(d.dim_param or d.dim_value for d in dims)
    return [(node.output[0], node.op_type, list(node.input)) for node in graph.node], shapes


def draw(path, graph, shapes, ours, theirs, y_test, images):
    """Left: the file's operators, top to bottom, each with the shape it makes; right: ONNX Runtime's score of
    every class of every test digit against ours, and a few digits with the class ONNX Runtime predicts."""
    fig, (left, right) = figure(12, 6.2, 1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
    steps = [("input", "the example's shape", shapes.get("input"))]
    steps += [(op, name, shapes.get(name)) for name, op, _ in graph]
    for k, (op, name, shape) in enumerate(steps):
        y = len(steps) - k
        left.add_patch(_box(left, y, "tab:blue" if k else "tab:grey"))
        left.text(0.1, y, op, va="center", ha="left", fontsize=11, color="white", weight="bold")
        dims = " × ".join(str(d) for d in shape) if shape else ""
        left.text(0.95, y, f"{name}\n{dims}", va="center", ha="left", fontsize=9, family="monospace")
        if k:
            left.annotate("", xy=(0.45, y + 0.32), xytext=(0.45, y + 0.68),
                          arrowprops={"arrowstyle": "->", "color": "grey"})
    left.set_xlim(0, 3)
    left.set_ylim(0.4, len(steps) + 0.6)
    left.axis("off")
    left.set_title("model.onnx: one operator per recorded operation", fontsize=11)

    right.scatter(ours.ravel(), theirs.ravel(), s=6, alpha=0.5, color="tab:green")
    low, high = float(min(ours.min(), theirs.min())), float(max(ours.max(), theirs.max()))
    right.plot([low, high], [low, high], color="grey", linewidth=0.8)
    right.set_xlabel("score here (autodiff)")
    right.set_ylabel("score in ONNX Runtime")
    agree = int((ours.argmax(1) == theirs.argmax(1)).sum())
    gap = float(np.abs(ours - theirs).max())
    right.set_title(f"{ours.shape[1]} scores of each of {len(ours)} test digits: largest difference {gap:.1e};\n"
                    f"the predicted class the same for {agree} of {len(ours)}", fontsize=11)
    # the first test digits, each titled with the class ONNX Runtime predicts, where no point falls
    for k, image in enumerate(images):
        inset = right.inset_axes([0.5 + (k % 4) * 0.125, 0.27 - (k // 4) * 0.23, 0.1, 0.15])
        inset.imshow(image[0], cmap="gray_r")
        predicted = int(theirs[k].argmax())
        inset.set_title(str(predicted), fontsize=10, color="black" if predicted == y_test[k] else "red")
        inset.set_xticks([]), inset.set_yticks([])
    right.text(0.74, 0.5, "ONNX Runtime's predictions\n(red: wrong)", transform=right.transAxes, ha="center",
               fontsize=9)
    return save(fig, path)


def _box(ax, y, colour):
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((0.05, y - 0.3), 0.8, 0.6, boxstyle="round,pad=0.02", color=colour)


def main(argv=None):
    args = parse_args("deployment", __doc__.splitlines()[0], argv)
    onnxruntime = import_runtime()
    X_train, y_train, X_test, y_test = data = load_digits_split()
    epochs = QUICK_EPOCHS if args.quick else EPOCHS
    nn.manual_seed(0)
    model = cnn()
    accuracy = train(model, data, epochs, "CNN")[-1]
    print(f"the CNN ({model.num_parameters():,} parameters) classifies {accuracy:.1%} of the "
          f"{len(X_test)} test digits after {epochs} epochs")

    path = args.out / "model.onnx"
    nn.export_onnx(model, autodiff.tensor(X_test[:1]), path)  # one example digit: the batch axis is free
    graph, shapes = operators(path)
    print(f"\nwrote {path} ({path.stat().st_size / 1024:.1f} kB) from one example digit, its operators in order:")
    for name, op, inputs in graph:
        print(f"  {name:<12} = {op:<8}({', '.join(inputs)})")

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    start = time.perf_counter()
    (theirs,) = session.run(None, {"input": X_test})  # the whole test set as one batch
    seconds = time.perf_counter() - start
    model.eval()
    with autodiff.no_grad():
        ours = model(autodiff.tensor(X_test)).numpy()
    agree = int((ours.argmax(1) == theirs.argmax(1)).sum())
    gap = float(np.abs(ours - theirs).max())
    print(f"\nONNX Runtime scored the {len(X_test)} test digits in one batch ({seconds * 1000:.1f} ms): "
          f"{agree} predictions the same as here, scores at most {gap:.1e} apart")

    picture = draw(args.out / "deployment.png", graph, shapes, ours, theirs, y_test, X_test[:8])
    report_pictures(args.out, [picture])

    target = QUICK_TARGET if args.quick else TARGET
    check(accuracy >= target, f"the CNN learns the digits ({accuracy:.1%} of the test set, at least {target:.0%})")
    check([op for _, op, _ in graph] == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Reshape", "Gemm"],
          "the file holds one ONNX operator for each operation of the model's forward pass")
    check(theirs.shape == ours.shape and gap <= SCORE_TOLERANCE * np.abs(ours).max(),
          "exported from one digit, the file scores the whole test set as this project does, to float32 rounding")
    check(agree == len(X_test), f"ONNX Runtime predicts the same class for every one of the {len(X_test)} test digits")
    return {"accuracy": accuracy, "agree": agree, "test_digits": len(X_test), "largest_difference": gap,
            "operators": [op for _, op, _ in graph]}


if __name__ == "__main__":
    main()
