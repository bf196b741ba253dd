"""Fit sin(x) on [-3, 3] with SciPy's L-BFGS-B driving a chainrule MLP through its flat arena.

scipy.optimize.minimize wants f(x) -> (loss, gradient) over one float64 vector. After
flatten_parameters the model's weights ARE one vector (flat.params) and backward writes the
gradient into another (flat.grads), so the bridge is two copies per evaluation.

    python examples/lbfgs_scipy.py
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
import chainrule.nn as nn
from chainrule.nn.utils import flatten_parameters


def main(maxiter: int = 200, n: int = 256, seed: int = 0, verbose: bool = True) -> tuple[float, float]:
    """Returns (loss before, loss after)."""
    from scipy.optimize import minimize

    cr.manual_seed(seed)
    x = np.linspace(-3.0, 3.0, n, dtype=np.float32).reshape(n, 1)
    inputs, targets = cr.tensor(x), cr.tensor(np.sin(x))
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    loss_fn = nn.MSELoss()
    flat = flatten_parameters(model)

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        flat.set_flat(theta)
        flat.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        # L-BFGS works in float64; the copy also keeps SciPy from holding a view we overwrite.
        return float(loss.item()), flat.grads.astype(np.float64)

    before, _ = loss_and_grad(flat.get_flat().astype(np.float64))
    result = minimize(
        loss_and_grad, flat.get_flat().astype(np.float64), jac=True, method="L-BFGS-B", options={"maxiter": maxiter}
    )
    after, _ = loss_and_grad(result.x)  # leaves the model at the optimum SciPy returned
    if verbose:
        print(
            f"L-BFGS-B on {flat.numel} parameters: MSE {before:.4g} -> {after:.3g} "
            f"({result.nit} iterations, {result.nfev} evaluations)"
        )
    return before, after


if __name__ == "__main__":
    main()
