"""The second-order lesson in quick mode: what it asserts, what it returns, the pictures it writes."""

import numpy as np

from demos import second_order


def test_second_order_lesson_holds_in_quick_mode(tmp_path, matplotlib):
    results = second_order.main(["--quick", "--out", str(tmp_path)])  # raises LessonFailed if a claim fails

    assert results["newton_steps"] <= 5
    assert results["descent_steps"] >= 20 * results["newton_steps"]
    network_hessian = results["network_hessian"]
    assert network_hessian.shape == (17, 17)
    np.testing.assert_allclose(network_hessian, network_hessian.T, atol=1e-12)
    assert np.linalg.eigvalsh(results["hessian"]).min() > 0, "the logistic loss is a bowl at its minimum"
    for mode in results["modes"]:
        assert mode["forward_passes"] == mode["inputs"] and mode["reverse_passes"] == mode["outputs"]
        assert mode["forward_seconds"] > 0 and mode["reverse_seconds"] > 0
    assert {mode["outputs"] for mode in results["modes"]} >= {1}, "the lesson shows a loss: one output"
    for name in ("newton_vs_gradient_descent.png", "network_hessian.png", "forward_vs_reverse.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is missing or not a PNG"
