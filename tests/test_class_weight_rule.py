"""``class_weight_rule="torch"``: torch's class weighting of the smoothed cross-entropy.

Parity with ``torch.nn.functional.cross_entropy(weight=..., label_smoothing=...)`` (class-index
and probability targets, values and gradients), and the same numbers on NumPy and JAX against
the closed form written below in NumPy:

* class indices: ``ℓ_i = Σ_k a_ik (-log p_ik)``, ``a_ik = (1-ε) w_{y_i} [k = y_i] + ε w_k / K``;
  ``"mean"`` divides by ``Σ_i w_{y_i}`` over non-ignored positions;
* probabilities: ``ℓ_i = -Σ_k w_k t'_ik log p_ik``, ``t' = (1-ε) t + ε / K``; ``"mean"``
  divides by the number of rows.

In both, the gradient of ``Σ_i ℓ_i`` with respect to the logits of row i is
``(Σ_k a_ik) softmax(z_i) - a_i`` (``a = w·t'`` for probability targets).
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
F = torch.nn.functional

K = 5
WEIGHT = np.array([1.0, 2.5, 0.5, 0.0, 1.7])
SMOOTHINGS = (0.0, 0.1, 0.3)
REDUCTIONS = ("mean", "sum", "none")
TOL = {"float32": {"rtol": 2e-6, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-13}}


def _inputs(seed: int = 0, rows: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(rows, K))
    labels = rng.integers(0, K, size=rows)
    labels[1] = 3  # a class of weight 0: its row counts in the smoothing term only
    soft = rng.dirichlet(np.ones(K), size=rows)
    return logits, labels, soft


# ---------------------------------------------------------------------- the closed form
def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _index_coefficients(labels, eps, ignore_index):
    """``a_ik`` for class-index targets (0 on ignored rows) and the rows' ``w_{y_i}``."""
    valid = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    safe = np.where(valid, labels, 0)
    one_hot = np.eye(K)[safe]
    coef = (1.0 - eps) * WEIGHT[safe][:, None] * one_hot + eps * WEIGHT / K
    return coef * valid[:, None], np.where(valid, WEIGHT[safe], 0.0)


def _soft_coefficients(targets, eps):
    return WEIGHT * ((1.0 - eps) * targets + eps / K)


def _reduce(rows, reduction, denominator):
    if reduction == "none":
        return rows
    total = rows.sum()
    return total if reduction == "sum" else total / denominator


def closed_form(logits, coef, reduction, denominator):
    """``(loss, d loss / d logits)`` of ``Σ_k a_ik (-log p_ik)`` under ``reduction``."""
    rows = -(coef * _log_softmax(logits)).sum(axis=-1)
    softmax = np.exp(_log_softmax(logits))
    grad = coef.sum(axis=-1, keepdims=True) * softmax - coef
    if reduction == "mean":
        grad = grad / denominator
    return _reduce(rows, reduction, denominator), grad


def index_reference(logits, labels, eps, reduction, ignore_index=None):
    coef, label_weight = _index_coefficients(labels, eps, ignore_index)
    return closed_form(logits, coef, reduction, label_weight.sum())


def soft_reference(logits, targets, eps, reduction):
    return closed_form(logits, _soft_coefficients(targets, eps), reduction, len(logits))


# ---------------------------------------------------------------------- torch parity
def _torch_pair(function, target, logits, dtype, eps, reduction, **extra):
    """``(value, grad)`` of a loss on torch logits of ``dtype``, reduced to a sum if unreduced."""
    z = torch.tensor(logits, dtype=getattr(torch, dtype), requires_grad=True)
    value = function(z, target, eps, reduction, **extra)
    (value.sum() if reduction == "none" else value).backward()
    return value.detach().double().numpy(), z.grad.double().numpy()


def _lk_sparse(z, labels, eps, reduction, ignore_index=None):
    return lk.sparse_categorical_crossentropy(
        labels,
        z,
        from_logits=True,
        class_weight=WEIGHT,
        label_smoothing=eps,
        ignore_index=ignore_index,
        reduction=reduction,
        class_weight_rule="torch",
    )


def _torch_sparse(z, labels, eps, reduction, ignore_index=None):
    return F.cross_entropy(
        z,
        labels,
        weight=torch.tensor(WEIGHT, dtype=z.dtype),
        label_smoothing=eps,
        ignore_index=-100 if ignore_index is None else ignore_index,
        reduction=reduction,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", SMOOTHINGS)
@pytest.mark.parametrize("ignore", [False, True])
def test_index_targets_match_torch(dtype, reduction, eps, ignore):
    logits, labels, _ = _inputs()
    ignore_index = -100 if ignore else None
    if ignore:
        labels[[0, 4]] = -100
    target = torch.tensor(labels)
    ours = _torch_pair(_lk_sparse, target, logits, dtype, eps, reduction, ignore_index=ignore_index)
    theirs = _torch_pair(
        _torch_sparse, target, logits, dtype, eps, reduction, ignore_index=ignore_index
    )
    np.testing.assert_allclose(ours[0], theirs[0], **TOL[dtype])
    np.testing.assert_allclose(ours[1], theirs[1], **TOL[dtype])
    if dtype == "float64":  # the closed form agrees with torch too
        truth = index_reference(logits, labels, eps, reduction, ignore_index)
        np.testing.assert_allclose(theirs[0], truth[0], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(theirs[1], truth[1], rtol=1e-12, atol=1e-13)


def _lk_soft(z, targets, eps, reduction):
    return lk.categorical_crossentropy(
        targets,
        z,
        from_logits=True,
        class_weight=WEIGHT,
        label_smoothing=eps,
        reduction=reduction,
        class_weight_rule="torch",
    )


def _torch_soft(z, targets, eps, reduction):
    weight = torch.tensor(WEIGHT, dtype=z.dtype)
    return F.cross_entropy(z, targets, weight=weight, label_smoothing=eps, reduction=reduction)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", SMOOTHINGS)
def test_probability_targets_match_torch(dtype, reduction, eps):
    logits, _, soft = _inputs(seed=1)
    target = torch.tensor(soft, dtype=getattr(torch, dtype))
    ours = _torch_pair(_lk_soft, target, logits, dtype, eps, reduction)
    theirs = _torch_pair(_torch_soft, target, logits, dtype, eps, reduction)
    np.testing.assert_allclose(ours[0], theirs[0], **TOL[dtype])
    np.testing.assert_allclose(ours[1], theirs[1], **TOL[dtype])
    if dtype == "float64":
        truth = soft_reference(logits, soft, eps, reduction)
        np.testing.assert_allclose(theirs[0], truth[0], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(theirs[1], truth[1], rtol=1e-12, atol=1e-13)


def test_index_targets_from_probabilities_match_torch():
    logits, labels, _ = _inputs(seed=2)
    probs = np.exp(_log_softmax(logits))
    ours = lk.sparse_categorical_crossentropy(
        torch.tensor(labels),
        torch.tensor(probs),
        class_weight=WEIGHT,
        label_smoothing=0.2,
        class_weight_rule="torch",
    )
    theirs = _torch_sparse(torch.log(torch.tensor(probs)), torch.tensor(labels), 0.2, "mean")
    np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-12)


# ---------------------------------------------------------------------- NumPy and JAX
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", SMOOTHINGS)
@pytest.mark.parametrize("ignore", [False, True])
def test_numpy_index_targets_match_the_closed_form(reduction, eps, ignore):
    logits, labels, _ = _inputs(seed=3)
    if ignore:
        labels[[2, 5]] = -1
    ignore_index = -1 if ignore else None
    got = _lk_sparse(logits, labels, eps, reduction, ignore_index)
    want = index_reference(logits, labels, eps, reduction, ignore_index)[0]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", SMOOTHINGS)
def test_numpy_probability_targets_match_the_closed_form(reduction, eps):
    logits, _, soft = _inputs(seed=4)
    got = _lk_soft(logits, soft, eps, reduction)
    np.testing.assert_allclose(got, soft_reference(logits, soft, eps, reduction)[0], rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("eps", (0.1, 0.3))
def test_jax_values_and_gradients_match_the_closed_form(dtype, eps):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    logits, labels, soft = _inputs(seed=5)
    labels[3] = -100
    z = jnp.asarray(logits, dtype=dtype)  # conftest enables float64 in JAX

    def index_loss(z):
        return _lk_sparse(z, jnp.asarray(labels), eps, "mean", ignore_index=-100)

    def soft_loss(z):
        return _lk_soft(z, jnp.asarray(soft, dtype=dtype), eps, "mean")

    got = [jax.value_and_grad(f)(z) for f in (index_loss, soft_loss)]
    assert all(value.dtype == jnp.dtype(dtype) for value, _ in got)
    wants = [
        index_reference(logits, labels, eps, "mean", ignore_index=-100),
        soft_reference(logits, soft, eps, "mean"),
    ]
    for (value, grad), (want_value, want_grad) in zip(got, wants, strict=True):
        np.testing.assert_allclose(float(value), want_value, **TOL[dtype])
        np.testing.assert_allclose(np.asarray(grad, np.float64), want_grad, **TOL[dtype])


# ---------------------------------------------------------------------- the contract around it
def test_sample_weight_and_mask_extend_torch_denominators():
    """``"mean"`` with sample weights s: ``Σ s ℓ / Σ s w_y`` (indices), ``Σ s ℓ / Σ s``
    (probabilities); a masked row leaves both sums."""
    logits, labels, soft = _inputs(seed=6)
    s = np.linspace(0.5, 2.0, len(labels))
    mask = np.ones(len(labels), bool)
    mask[2] = False
    kept = s * mask
    coef, label_weight = _index_coefficients(labels, 0.3, None)
    rows = -(coef * _log_softmax(logits)).sum(-1)
    got = lk.sparse_categorical_crossentropy(
        labels, logits, from_logits=True, class_weight=WEIGHT, label_smoothing=0.3,
        class_weight_rule="torch", sample_weight=s, mask=mask,
    )  # fmt: skip
    np.testing.assert_allclose(got, (kept * rows).sum() / (kept * label_weight).sum(), rtol=1e-12)
    rows = -(_soft_coefficients(soft, 0.3) * _log_softmax(logits)).sum(-1)
    got = lk.categorical_crossentropy(
        soft, logits, from_logits=True, class_weight=WEIGHT, label_smoothing=0.3,
        class_weight_rule="torch", sample_weight=s, mask=mask,
    )  # fmt: skip
    np.testing.assert_allclose(got, (kept * rows).sum() / kept.sum(), rtol=1e-12)


def test_mean_denominator_reports_the_torch_weight_sum():
    from losskit.distributed import mean_denominator

    logits, labels, _ = _inputs(seed=7)
    labels[0] = -100
    found = mean_denominator(
        lk.sparse_categorical_crossentropy, labels, logits, from_logits=True,
        class_weight=WEIGHT, label_smoothing=0.1, ignore_index=-100, class_weight_rule="torch",
    )  # fmt: skip
    np.testing.assert_allclose(float(found), WEIGHT[labels[1:]].sum(), rtol=1e-12)


def test_default_rule_is_unchanged_and_differs_from_torch_where_documented():
    logits, labels, _ = _inputs(seed=8)
    one_hot = np.eye(K)[labels]
    options = {"from_logits": True, "class_weight": WEIGHT, "label_smoothing": 0.3}
    default = lk.sparse_categorical_crossentropy(labels, logits, **options)
    explicit = lk.sparse_categorical_crossentropy(
        labels, logits, class_weight_rule="losskit", **options
    )
    assert float(default) == float(explicit)
    # losskit's rule: the whole smoothed row weighted by w[y], mean over Σ w[y]
    rows = -(((1 - 0.3) * one_hot + 0.3 / K) * _log_softmax(logits)).sum(-1)
    np.testing.assert_allclose(default, (WEIGHT[labels] * rows).sum() / WEIGHT[labels].sum())
    torch_rule = lk.sparse_categorical_crossentropy(
        labels, logits, class_weight_rule="torch", **options
    )
    assert abs(float(torch_rule) - float(default)) > 1e-3
    # without smoothing, or without class weights, the two rules agree
    for changed in ({"label_smoothing": 0.0}, {"class_weight": None}):
        both = [
            lk.sparse_categorical_crossentropy(
                labels, logits, class_weight_rule=rule, **{**options, **changed}
            )
            for rule in ("losskit", "torch")
        ]
        np.testing.assert_allclose(both[0], both[1], rtol=1e-14)
    soft_both = [
        lk.categorical_crossentropy(one_hot, logits, class_weight_rule=rule, from_logits=True)
        for rule in ("losskit", "torch")
    ]
    np.testing.assert_allclose(soft_both[0], soft_both[1], rtol=1e-14)


@pytest.mark.parametrize("loss", [lk.sparse_categorical_crossentropy, lk.categorical_crossentropy])
@pytest.mark.parametrize("bad", ["keras", "Torch", None, 1])
def test_bad_rule_raises_naming_the_argument(loss, bad):
    logits, labels, _ = _inputs()
    y = labels if loss is lk.sparse_categorical_crossentropy else np.eye(K)[labels]
    with pytest.raises((ValueError, TypeError), match="class_weight_rule"):
        loss(y, logits, from_logits=True, class_weight_rule=bad)


def test_tensorflow_gradients_match_the_closed_form():
    """TensorFlow's fused softmax cross-entropy assumes targets summing to 1: the torch rule's
    class-weighted targets must not reach it."""
    tf = pytest.importorskip("tensorflow")
    logits, labels, soft = _inputs(seed=9)
    z = tf.Variable(logits)
    with tf.GradientTape(persistent=True) as tape:
        soft_loss = _lk_soft(z, tf.constant(soft), 0.3, "mean")
        index_loss = _lk_sparse(z, tf.constant(labels), 0.3, "mean")
    pairs = [
        (soft_loss, tape.gradient(soft_loss, z), soft_reference(logits, soft, 0.3, "mean")),
        (index_loss, tape.gradient(index_loss, z), index_reference(logits, labels, 0.3, "mean")),
    ]
    for value, grad, (want_value, want_grad) in pairs:
        np.testing.assert_allclose(float(value), want_value, rtol=1e-12)
        np.testing.assert_allclose(grad.numpy(), want_grad, rtol=1e-12, atol=1e-13)
