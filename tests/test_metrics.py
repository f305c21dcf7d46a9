"Fréchet distance of diffedu.metrics against pytorch-fid's calculate_frechet_distance and an independent SciPy computation."
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from diffedu.metrics import FRECHET_EPS, frechet_distance

pytestmark = [pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning"),  # pytorch-fid on SciPy ≥ 1.16
              pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")]  # "matrix is singular": wanted below


def moments(features):
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def fd_formula(a, b, eps=0.0):
    """‖μa − μb‖² + tr(Σa + Σb − 2(Σa Σb)^½), written out independently: the root's trace is Σ √λ over the eigenvalues of
    the symmetric PSD matrix Σa^½ Σb Σa^½ (similar to Σa Σb); `eps`·I is added to both covariances inside the root only."""
    (mu_a, cov_a), (mu_b, cov_b) = moments(a), moments(b)
    eye = np.eye(len(cov_a))
    half_a = np.real(scipy.linalg.sqrtm(cov_a + eps * eye))
    lam = np.linalg.eigvalsh(half_a @ (cov_b + eps * eye) @ half_a)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(lam.clip(0)).sum())


def pytorch_fid(a, b):
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    (mu_a, cov_a), (mu_b, cov_b) = moments(a), moments(b)
    return float(fid_score.calculate_frechet_distance(mu_a, cov_a, mu_b, cov_b, eps=FRECHET_EPS))


def random_pair(n_a, n_b, d, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64)
    a = scale * torch.randn(n_a, d, generator=g, dtype=torch.float64)
    b = scale * (torch.randn(n_b, d, generator=g, dtype=torch.float64) @ mix + 0.5)
    return a, b


# four points ±u1, ±u2 against ±v1, ±v2 in R⁴: rank-2 covariances whose product has a nilpotent part and no square root
SINGULAR_PRODUCT = (np.array([[0, 1, 0, 1], [0, -1, 0, -1], [1, -1, -1, 1], [-1, 1, 1, -1]], dtype=np.float64),
                    np.array([[0, 0, -1, 1], [0, 0, 1, -1], [0, 1, 0, 0], [0, -1, 0, 0]], dtype=np.float64))


@pytest.mark.parametrize("n_a,n_b,d,seed", [(500, 400, 4, 0), (2000, 1000, 16, 1), (300, 300, 64, 2)])
def test_agrees_with_the_formula_on_random_features(n_a, n_b, d, seed):
    a, b = random_pair(n_a, n_b, d, seed)
    value = frechet_distance(a, b)
    assert value > 1.0 and value == pytest.approx(fd_formula(a, b), rel=1e-8)
    assert frechet_distance(b, a) == pytest.approx(value, rel=1e-8)


@pytest.mark.parametrize("n_a,n_b,d,seed", [(500, 400, 4, 0), (2000, 1000, 16, 1), (300, 300, 64, 2), (10, 12, 32, 3)])
def test_agrees_with_pytorch_fid(n_a, n_b, d, seed):
    a, b = random_pair(n_a, n_b, d, seed)
    assert frechet_distance(a, b) == pytest.approx(pytorch_fid(a, b), rel=1e-9)


def test_identical_and_translated_sets():
    a, _ = random_pair(400, 2, 8, 4)
    assert abs(frechet_distance(a, a)) < 1e-8
    v = torch.arange(8, dtype=torch.float64) / 10
    assert frechet_distance(a, a + v) == pytest.approx((v**2).sum().item(), abs=1e-7)


def test_fewer_samples_than_dimensions_is_finite():
    a, b = random_pair(10, 12, 32, 5)  # rank-9 and rank-11 covariances in 32 dimensions
    value = frechet_distance(a, b)
    # the square root of a product with 21 zero eigenvalues is ill-conditioned: rounding of size ε there becomes √ε in the
    # trace, so the two evaluations of the formula agree to about 1e-4 here, not to 1e-9
    assert math.isfinite(value) and value == pytest.approx(fd_formula(a, b), rel=1e-3)


def test_non_finite_root_retries_with_eps_on_both_covariances(capsys):
    a, b = SINGULAR_PRODUCT
    assert not np.isfinite(scipy.linalg.sqrtm(moments(a)[1] @ moments(b)[1])).all()  # the case reaches the retry
    value = frechet_distance(a, b)
    assert math.isfinite(value)
    assert value == pytest.approx(fd_formula(a, b, eps=FRECHET_EPS), rel=1e-4)
    assert value == pytest.approx(pytorch_fid(a, b), rel=1e-9)
    assert "adding 1e-06 to diagonal" in capsys.readouterr().out  # pytorch-fid took the same branch


def test_non_negligible_imaginary_part_raises():
    a, b = random_pair(5, 5, 20, 6, scale=1e6)  # rounding in a rank-4 product of scale 1e24 leaves imaginary parts ≫ 1e-3
    with pytest.raises(ValueError, match="imaginary part") as info:
        frechet_distance(a, b)
    assert "\n" not in str(info.value)
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    with pytest.raises(ValueError, match="Imaginary component"):
        fid_score.calculate_frechet_distance(*moments(a), *moments(b))


def test_shape_errors_are_one_line():
    a, _ = random_pair(10, 2, 4, 7)
    for bad in (a[:, :3], a[:1], a[:, 0]):
        with pytest.raises(ValueError, match="features must be") as info:
            frechet_distance(a, bad)
        assert "\n" not in str(info.value)
