import numpy as np
import pytest

from udc.marts.nullspace import _null_projection, _svd_null_projection


@pytest.mark.parametrize("shape", [(30, 50), (50, 30)])
def test_qr_null_projection_matches_the_svd_on_dependent_relations(shape):
    rng = np.random.default_rng(7)
    base = rng.integers(-1, 2, size=shape).astype(np.float64)
    # Dependent rows (a total of other rows) make the rank smaller than both sides.
    matrix = np.vstack([base, base[:5].sum(axis=0, keepdims=True), base[3:9] - base[10:16]])
    random = rng.standard_normal((shape[1], 3))
    projected = _null_projection(matrix, random)
    np.testing.assert_allclose(projected, _svd_null_projection(matrix, random), atol=1e-10)
    np.testing.assert_allclose(matrix @ projected, 0.0, atol=1e-10)
