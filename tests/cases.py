"""One valid call of every registered loss, for the tests that must cover the whole catalogue.

``CASES[name]`` gives the loss's positional inputs (NumPy, in the function's order, channels
last) and the parameters a wrapper must be constructed with. ``test_every_loss_has_a_case``
fails when a loss is registered without one here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

N, C, D, L = 6, 4, 5, 7  # batch, classes, embedding size, list length / time steps


@dataclass
class Case:
    inputs: list[np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)
    #: indices of inputs that are differentiable predictions (gradients are checked on them)
    differentiable: tuple[int, ...] = (1,)
    #: indices of inputs shared by every example (a weight matrix), not sliced into batches
    shared: tuple[int, ...] = ()


def _rng() -> np.random.Generator:
    return np.random.default_rng(2024)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _regression(**params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        return Case([r.normal(size=(N, 3)), r.normal(size=(N, 3))], params)

    return make


def _positive(**params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        return Case([r.random((N, 3)) * 3, r.random((N, 3)) * 3 + 0.1], params)

    return make


def _binary_probs(**params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        return Case([(r.random((N, 3)) > 0.5) * 1.0, r.random((N, 3)) * 0.98 + 0.01], params)

    return make


def _signs(**params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        return Case([np.where(r.random((N, 3)) > 0.5, 1.0, -1.0), r.normal(size=(N, 3))], params)

    return make


def _one_hot_probs(**params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        return Case([np.eye(C)[r.integers(0, C, N)], _softmax(r.normal(size=(N, C)))], params)

    return make


def _one_hot_logits(**params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        return Case([np.eye(C)[r.integers(0, C, N)], r.normal(size=(N, C))], params)

    return make


def _sparse(probs: bool = True, **params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        z = r.normal(size=(N, C))
        return Case([r.integers(0, C, N), _softmax(z) if probs else z], params)

    return make


def _distributions(**params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        return Case([_softmax(r.normal(size=(N, C))), _softmax(r.normal(size=(N, C)))], params)

    return make


def _embeddings_labels(
    groups: tuple[int, ...] = (0, 0, 1, 1, 2, 2), **params: Any
) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        labels = np.array(groups)
        return Case([r.normal(size=(N, D)), labels], params, differentiable=(0,))

    return make


def _class_centres(sub_centers: int = 1, **params: Any) -> Callable[[], Case]:
    """Embeddings ``(N, D)``, labels in ``[0, C)`` and class centres ``(C·K, D)``."""

    def make() -> Case:
        r = _rng()
        labels = np.array([0, 1, 2, 3, 1, 2])
        centres = r.normal(size=(C * sub_centers, D))
        options = {"sub_centers": sub_centers} if sub_centers > 1 else {}
        return Case(
            [r.normal(size=(N, D)), labels, centres],
            {**options, **params},
            differentiable=(0, 2),
            shared=(2,),
        )

    return make


def _segmentation(mode: str = "multiclass", **params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        if mode == "binary":  # lovasz_hinge: logits always
            y = (r.random((2, 8, 8, 1)) > 0.5) * 1.0
            return Case([y, r.normal(size=(2, 8, 8, 1))], params)
        y = np.eye(3)[r.integers(0, 3, (2, 8, 8))]
        return Case([y, r.normal(size=(2, 8, 8, 3))], {"from_logits": True, **params})

    return make


def _images(side: int, **params: Any) -> Callable[[], Case]:
    """Two-channel images in [0, 1], channels last: the prediction a noisy copy of the target."""

    def make() -> Case:
        r = _rng()
        y = r.random((3, side, side, 2))
        return Case([y, np.clip(0.6 * y + 0.4 * r.random(y.shape), 0.0, 1.0)], params)

    return make


def _ranking(**params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        labels = r.integers(0, 4, (N, L)).astype(float)
        labels[0, -2:] = -1.0  # padding
        return Case([labels, r.normal(size=(N, L))], params)

    return make


def _triplet() -> Case:
    r = _rng()
    return Case([r.normal(size=(N, D)) for _ in range(3)], differentiable=(0, 1, 2))


def _two_views(**params: Any) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        return Case([r.normal(size=(N, D)), r.normal(size=(N, D))], params, differentiable=(0, 1))

    return make


def _point_clouds(**params: Any) -> Callable[[], Case]:
    """A batch of 4 pairs of 2-D clouds: 6 target points against 5 predicted points, shifted
    (far enough that float32 rounding of the potentials stays well inside the tolerance)."""

    def make() -> Case:
        r = _rng()
        true, pred = r.normal(size=(4, 6, 2)), r.normal(size=(4, 5, 2)) + 1.5
        return Case([true, pred], params, differentiable=(0, 1))

    return make


def _pair_with_sign(shape: tuple[int, ...]) -> Callable[[], Case]:
    def make() -> Case:
        r = _rng()
        y = np.where(r.random(N) > 0.5, 1.0, -1.0)
        return Case([r.normal(size=shape), r.normal(size=shape), y], differentiable=(0, 1))

    return make


def _hinge_embedding() -> Case:
    r = _rng()
    return Case([r.random((N, 3)) * 2, np.where(r.random((N, 3)) > 0.5, 1.0, -1.0)], {}, (0,))


def _ctc() -> Case:
    r = _rng()
    labels = r.integers(1, C, (2, 3))
    return Case([labels, r.normal(size=(2, L, C))])


def _linear_head() -> Case:
    r = _rng()
    labels = r.integers(0, C, N)
    labels[0] = -100  # ignore_index: a padding token
    return Case([r.normal(size=(N, D)), r.normal(size=(C, D)), labels], {}, (0, 1), shared=(1,))


def _linear_distillation(**params: Any) -> Callable[[], Case]:
    """A student and a teacher head (the teacher wider) over the same tokens and classes."""

    def make() -> Case:
        r = _rng()
        student = [r.normal(size=(N, D)), r.normal(size=(C, D))]
        teacher = [r.normal(size=(N, D + 2)), r.normal(size=(C, D + 2))]
        return Case([*student, *teacher], params, (0, 1), shared=(1, 3))

    return make


def _crps_gaussian() -> Case:
    r = _rng()
    return Case([r.normal(size=N), r.normal(size=N), r.random(N) + 0.5], {}, (1, 2))


def _ensemble() -> Case:
    r = _rng()
    return Case([r.normal(size=N), r.normal(size=(N, 8))])


def _threshold_ensemble() -> Case:
    """An ensemble scored above the threshold 0 (some members and outcomes below it)."""
    r = _rng()
    return Case([r.normal(size=N), r.normal(size=(N, 8))], {"a": 0.0})


def _quantile_levels() -> Case:
    """Three predicted quantiles per point, crossing in some rows."""
    r = _rng()
    return Case([r.normal(size=(N, 3)), r.normal(size=(N, 3, 3))], {"quantiles": [0.1, 0.5, 0.9]})


def _multivariate_ensemble(**params: Any) -> Callable[[], Case]:
    """An ensemble of 5 members of a 3-vector per example, and the observed vector."""

    def make() -> Case:
        r = _rng()
        return Case([r.normal(size=(N, 3)), r.normal(size=(N, 5, 3))], params)

    return make


def _beta_nll() -> Case:
    r = _rng()
    return Case([r.normal(size=N), r.normal(size=N), r.random(N) + 0.5], {}, (1, 2))


def _preference(count: int, average: bool = False, **params: Any) -> Callable[[], Case]:
    """Log-probabilities of chosen and rejected completions (sums over about 20 tokens, or
    per-token averages), then, for four inputs, the reference model's, a few nats away."""

    def make() -> Case:
        r = _rng()
        scale = (0.1, 2.0) if average else (5.0, 40.0)
        policy = [-(scale[0] + scale[1] * r.random(N)) for _ in range(2)]
        if count == 2:
            return Case(policy, params, differentiable=(0, 1))
        shift = 0.2 if average else 3.0
        reference = [np.minimum(p + shift * r.normal(size=N), -0.01) for p in policy]
        return Case([*policy, *reference], params, differentiable=(0, 1, 2, 3))

    return make


def _policy(**params: Any) -> Callable[[], Case]:
    """Per-token log-probabilities ``(N, L)`` of the policy and of the sampling policy (ratios
    from about 0.5 to 2, on both sides of the clip range), one advantage per sequence."""

    def make() -> Case:
        r = _rng()
        logps = np.log(r.random((N, L)) * 0.9 + 0.05)
        old = logps + 0.4 * r.normal(size=(N, L))
        return Case([logps, old, r.normal(size=N)], params, differentiable=(0,))

    return make


def _distillation(**params: Any) -> Callable[[], Case]:
    """Teacher and student logits ``(N, 3, C + 1)``: a vocabulary at each of 3 positions."""

    def make() -> Case:
        r = _rng()
        teacher, student = 2.0 * r.normal(size=(2, N, 3, C + 1))
        return Case([teacher, student], params, differentiable=(1,))

    return make


def _boxes() -> Case:
    """Ground-truth and predicted boxes ``(x1, y1, x2, y2)``: overlapping, nested and disjoint
    pairs with aspect ratios that differ (CIoU's aspect term is non-zero)."""
    r = _rng()
    corner = r.random((N, 2)) * 4.0
    true = np.concatenate([corner, corner + 0.5 + r.random((N, 2)) * 2.0], axis=1)
    shift = r.normal(size=(N, 2)) * 0.6
    shift[-1] += 6.0  # a prediction far from its target: no overlap
    size = 0.4 + r.random((N, 2)) * 2.5
    pred = np.concatenate([corner + shift, corner + shift + size], axis=1)
    return Case([true, pred])


FACTORIES: dict[str, Callable[[], Case]] = {
    # regression
    "mean_squared_error": _regression(),
    "mean_absolute_error": _regression(),
    "mean_absolute_percentage_error": _regression(),
    "mean_squared_logarithmic_error": _positive(),
    "huber": _regression(delta=0.5),
    "smooth_l1": _regression(beta=0.5),
    "log_cosh": _regression(),
    "quantile": _regression(quantiles=0.9),
    "expectile": _regression(tau=0.2),
    "poisson": _positive(),
    "poisson_nll": _positive(),
    "gaussian_nll": _regression(var=0.7),
    "laplace_nll": _regression(scale=0.7),
    "tweedie": _positive(power=1.5),
    "cosine_similarity": _regression(),
    # classification
    "binary_crossentropy": _binary_probs(),
    "binary_focal_crossentropy": _binary_probs(gamma=2.0),
    "categorical_crossentropy": _one_hot_probs(),
    "categorical_focal_crossentropy": _one_hot_probs(),
    "sparse_categorical_crossentropy": _sparse(),
    "sparse_categorical_focal_crossentropy": _sparse(),
    "hinge": _signs(),
    "squared_hinge": _signs(),
    "soft_margin": _signs(),
    "categorical_hinge": _one_hot_logits(),
    "kl_divergence": _distributions(),
    "js_divergence": _distributions(),
    "poly_loss": _one_hot_probs(),
    "asymmetric_loss": _binary_probs(),
    "generalized_crossentropy": _one_hot_probs(),
    "symmetric_crossentropy": _one_hot_probs(),
    "normalized_crossentropy": _one_hot_probs(),
    "bi_tempered_logistic": _one_hot_logits(t1=0.8, t2=1.2),
    "taylor_crossentropy": _one_hot_probs(),
    "multiclass_hinge": _sparse(probs=False),
    "sparsemax_loss": _sparse(probs=False),
    "ctc": _ctc,
    "linear_cross_entropy": _linear_head,
    # segmentation
    "dice": _segmentation(per_image=True),
    "jaccard": _segmentation(),
    "tversky": _segmentation(per_image=True),
    "focal_tversky": _segmentation(),
    "generalized_dice": _segmentation(per_image=True),
    "lovasz_softmax": _segmentation(per_image=True),
    "lovasz_hinge": _segmentation("binary"),
    "boundary_loss": _segmentation(),
    "hausdorff_dt": _segmentation(),
    "soft_cldice": _segmentation(),
    # image similarity
    "ssim": _images(10, win_size=5),
    "ms_ssim": _images(16, win_size=3, weights=(0.2, 0.3, 0.5)),
    # metric learning
    "contrastive": _embeddings_labels(),
    "supervised_contrastive": _embeddings_labels(),
    "circle": _embeddings_labels(),
    "grouped_info_nce": _embeddings_labels((0, 1, 0, 1, 0, 2), temperature=0.5),
    "multi_similarity": _embeddings_labels((0, 0, 1, 1, 1, 2), alpha=2.0, beta=8.0, base=0.3),
    "arcface": _class_centres(margin=0.4, scale=4.0),
    "subcenter_arcface": _class_centres(2, margin=0.3, scale=3.0),
    "cosface": _class_centres(margin=0.3, scale=4.0),
    "sphereface": _class_centres(margin=3, scale=1.5),
    "proxy_anchor": _class_centres(margin=0.2, alpha=4.0),
    "triplet_margin": _triplet,
    "margin_ranking": _pair_with_sign((N,)),
    "cosine_embedding": _pair_with_sign((N, D)),
    "hinge_embedding": _hinge_embedding,
    "info_nce": _two_views(),
    "sigmoid_contrastive": _two_views(logit_scale=2.0, bias=-1.0),
    "vicreg": _two_views(sim_coeff=20.0, std_coeff=15.0, cov_coeff=2.0),
    "barlow_twins": _two_views(off_diagonal_weight=0.05),
    # ranking
    "pairwise_logistic": _ranking(),
    "pairwise_hinge": _ranking(),
    "listnet": _ranking(),
    "listmle": _ranking(),
    "approx_ndcg": _ranking(),
    "lambda_loss": _ranking(),
    # probabilistic
    "brier": _binary_probs(),
    "crps_gaussian": _crps_gaussian,
    "crps_ensemble": _ensemble,
    "twcrps_ensemble": _threshold_ensemble,
    "multi_quantile": _quantile_levels,
    "energy_score": _multivariate_ensemble(),
    "variogram_score": _multivariate_ensemble(p=0.5),
    "beta_nll": _beta_nll,
    # policy optimisation and distillation of language models
    "grpo": _policy(epsilon_high=0.28),
    "generalized_jsd": _distillation(beta=0.3, temperature=2.0),
    "linear_distillation": _linear_distillation(beta=0.3, temperature=1.5),
    "distillation_kl": _distillation(
        temperature=2.0, direction="reverse", temperature_scaling=True
    ),
    # preference optimisation
    "dpo": _preference(4, label_smoothing=0.1),
    "kto": _preference(4, kl=0.3, undesirable_weight=1.33),
    "orpo": _preference(2, average=True),
    "simpo": _preference(2, average=True, label_smoothing=0.1),
    "cpo": _preference(2, label_smoothing=0.1),
    # optimal transport (blur 2 against clouds of spread ~1: the extra iterations converge)
    "sinkhorn_divergence": _point_clouds(blur=2.0, diameter=8.0, extra_iterations=30),
    # bounding-box regression
    "giou_loss": _boxes,
    "diou_loss": _boxes,
    "ciou_loss": _boxes,
}


def case(name: str) -> Case:
    """A fresh case for ``name`` (new arrays each time, the same values)."""
    return FACTORIES[name]()
