"""Central-difference checks of dx_t, in float64, after autograd's check_vjp and torch's gradcheck."""

import numpy as np

from saliency.objective import Objective


def objective(engine, x, lengths, positions, classes, objective_name="logit"):
    return Objective.of(objective_name).values(engine.forward(x, lengths), positions, classes)


def check_input_gradient(engine, x, lengths, positions, classes, objective_name="logit", dx=None,
                         eps=1e-6, rtol=1e-6, atol=1e-9, directions=3, seed=0):
    """Compare <dx, v> with (F(x + eps v) - F(x - eps v)) / 2 eps for random directions v.

    Also compares three single coordinates per example. Raises AssertionError naming both values.
    `dx` may be given, to test the checker itself with a wrong gradient.
    """
    assert x.dtype == np.float64, "numeric gradient checks need float64"
    if dx is None:
        _, _, dx = engine.gradient(x, lengths, positions, classes, objective_name)
    rng = np.random.default_rng(seed)
    mask = (np.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
    probes = [rng.standard_normal(x.shape) * mask for _ in range(directions)]
    for b in range(len(x)):  # single coordinates, on real (unpadded) positions
        t, e = rng.integers(lengths[b]), rng.integers(x.shape[2])
        v = np.zeros_like(x)
        v[b, t, e] = 1.0
        probes.append(v)
    for k, v in enumerate(probes):
        numeric = (objective(engine, x + eps * v, lengths, positions, classes, objective_name)
                   - objective(engine, x - eps * v, lengths, positions, classes, objective_name)) / (2 * eps)
        analytic = np.einsum("bte,bte->b", dx, v)
        if not np.allclose(analytic, numeric, rtol=rtol, atol=atol):
            raise AssertionError(f"probe {k}: analytic {analytic} vs numeric {numeric}")
