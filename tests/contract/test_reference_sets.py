"""The segmentation, metric-learning and ranking references against losskit in float64 NumPy:
each loss's case from ``tests/cases.py`` and variants with non-default options and inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import cases
import losskit as lk
from reference_sets import REFERENCES

Inputs = list[np.ndarray]


def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def same(inputs: Inputs) -> Inputs:
    return inputs


def index_targets(inputs: Inputs) -> Inputs:
    return [np.argmax(inputs[0], axis=-1), inputs[1]]


def class_absent_from_image(inputs: Inputs) -> Inputs:
    labels = np.argmax(inputs[0], axis=-1)
    labels[0][labels[0] == 2] = 0
    return [labels, inputs[1]]


def ignored_pixels(inputs: Inputs) -> Inputs:
    labels = np.argmax(inputs[0], axis=-1)
    labels[0, :3, :] = 255
    labels[1, 5, 2] = 255
    return [labels, inputs[1]]


def soft_targets(inputs: Inputs) -> Inputs:
    z = rng().normal(size=inputs[1].shape)
    soft = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    return [soft, inputs[1]]


def multilabel_soft(inputs: Inputs) -> Inputs:
    soft = rng().uniform(0.0, 1.0, inputs[1].shape)
    soft[1, ..., 2] = 0.0
    return [soft, inputs[1]]


def multilabel_hard(inputs: Inputs) -> Inputs:
    hard = (rng().random(inputs[1].shape) > 0.6) * 1.0
    hard[0, ..., 1] = 0.0
    return [hard, inputs[1]]


def binary_probabilities(inputs: Inputs) -> Inputs:
    y = (np.argmax(inputs[0], axis=-1) == 1) * 1.0
    y[1] = 0.0
    p = 1.0 / (1.0 + np.exp(-inputs[1][..., 1]))
    return [y, p]


def probabilities(inputs: Inputs) -> Inputs:
    z = inputs[1]
    e = np.exp(z - z.max(-1, keepdims=True))
    return [inputs[0], e / e.sum(-1, keepdims=True)]


def tied_probabilities(inputs: Inputs) -> Inputs:
    p = np.round(probabilities(inputs)[1], 1)
    return [np.argmax(inputs[0], axis=-1), p / p.sum(-1, keepdims=True)]


def tiny_volumes(inputs: Inputs) -> Inputs:
    soft = rng().uniform(0.0, 1.0, inputs[1].shape) * 1e-170
    soft[0, ..., 1] = 0.0
    return [soft, inputs[1]]


def multilabel_empty_image(inputs: Inputs) -> Inputs:
    hard = (rng().random(inputs[1].shape) > 0.5) * 1.0
    hard[1] = 0.0
    return [hard, inputs[1]]


def ignored_and_dense_nchw(inputs: Inputs) -> Inputs:
    return channels_first([soft_targets(inputs)[0], inputs[1]])


def index_channels_first(inputs: Inputs) -> Inputs:
    return [np.argmax(inputs[0], axis=-1), np.moveaxis(inputs[1], -1, 1)]


def channels_first(inputs: Inputs) -> Inputs:
    return [np.moveaxis(inputs[0], -1, 1), np.moveaxis(inputs[1], -1, 1)]


def hinge_multilabel(inputs: Inputs) -> Inputs:
    r = rng()
    y = (r.random((2, 8, 8, 3)) > 0.5) * 1.0
    y[0, ..., 2] = 0.0
    return [y, r.normal(size=(2, 8, 8, 3))]


def hinge_tied_scores(inputs: Inputs) -> Inputs:
    return [inputs[0], np.round(inputs[1])]


def hinge_ignored(inputs: Inputs) -> Inputs:
    y = inputs[0].copy()
    y[0, :2] = 255.0
    return [y, inputs[1]]


def hinge_empty_image(inputs: Inputs) -> Inputs:
    y = inputs[0].copy()
    y[1] = 0.0
    return [y, inputs[1]]


def singleton_label(inputs: Inputs) -> Inputs:
    return [inputs[0], np.array([0, 0, 1, 1, 2, 3])]


def duplicated_rows(inputs: Inputs) -> Inputs:
    x = inputs[0].copy()
    x[1] = x[0]
    x[4] = x[0]
    return [x, inputs[1]]


def separated_clusters(inputs: Inputs) -> Inputs:
    centres = np.repeat(np.eye(3), 2, axis=0)
    return [centres + rng().normal(size=(6, 3)) * 0.01, np.array([0, 0, 1, 1, 2, 2])]


#: a separate reference set for circle: 7 rows, labels 0-3
REFERENCE_SET = {
    "ref_embeddings": np.random.default_rng(11).normal(size=(7, 5)),
    "ref_labels": np.array([2, 0, 1, 3, 0, 2, 1]),
}
#: a reference set whose row i shares anchor i's label (so the diagonal matters)
REFERENCE_SET_DIAGONAL = {
    "ref_embeddings": np.random.default_rng(12).normal(size=(6, 5)),
    "ref_labels": np.array([0, 1, 1, 1, 2, 0]),
}


def far_from_centre(inputs: Inputs) -> Inputs:
    """Embeddings pointing away from their class centre (θ near π)."""
    x, labels, weight = inputs
    far = -weight[labels] + rng().normal(size=x.shape) * 0.05
    return [far, labels, weight]


def three_sub_centres(inputs: Inputs) -> Inputs:
    x, labels, weight = inputs
    return [x, labels, rng().normal(size=(3 * len(weight) // 2, weight.shape[1]))]


def one_class_absent(inputs: Inputs) -> Inputs:
    """Labels that leave the last class (and its proxy or centre) without an embedding."""
    return [inputs[0], np.array([0, 0, 1, 1, 2, 2]), inputs[2]]


def one_label(inputs: Inputs) -> Inputs:
    """Every row in one group: positive pairs without a negative."""
    return [inputs[0], np.full(len(inputs[0]), 4)]


def matching_views(inputs: Inputs) -> Inputs:
    r = rng()
    a = r.normal(size=(6, 5))
    return [a, a + r.normal(size=(6, 5)) * 0.01]


def near_orthonormal_views(inputs: Inputs) -> Inputs:
    r = rng()
    return [np.eye(6) + r.normal(size=(6, 6)) * 0.01, np.eye(6) + r.normal(size=(6, 6)) * 0.01]


def orthonormal_views(inputs: Inputs) -> Inputs:
    return [np.eye(6), np.eye(6)]


def tiny_vectors(inputs: Inputs) -> Inputs:
    x1 = inputs[0] * 1e-8
    x1[0] = 0.0
    return [x1, inputs[1], inputs[2]]


def broadcast_pairs(inputs: Inputs) -> Inputs:
    return [inputs[0][:, None, :], inputs[1][None, :3, :], inputs[2][:, None]]


def broadcast_triplet(inputs: Inputs) -> Inputs:
    return [inputs[0][:1], inputs[1], inputs[2][:2, None, :]]


def awkward_lists(inputs: Inputs) -> Inputs:
    y, s = inputs[0].copy(), inputs[1] * 4.0
    y[1] = 2.0
    y[2] = 0.0
    y[3] = -1.0
    y[4, :5] = -1.0
    return [y, s]


def infinite_padding(inputs: Inputs) -> Inputs:
    y, s = inputs[0].copy(), inputs[1].copy()
    s[0, -2:] = [np.inf, -np.inf]
    y[4, :6] = -1.0
    s[4, :6] = np.inf
    return [y, s]


def tied_scores(inputs: Inputs) -> Inputs:
    return [inputs[0], np.round(inputs[1])]


def three_dimensional(inputs: Inputs) -> Inputs:
    return [inputs[0].reshape(2, 3, -1), inputs[1].reshape(2, 3, -1)]


def one_list(inputs: Inputs) -> Inputs:
    return [inputs[0][0], inputs[1][0]]


def graded_relevance(inputs: Inputs) -> Inputs:
    y = np.abs(rng().normal(size=inputs[0].shape))
    y[0, -2:] = -1.0
    return [y, inputs[1]]


def one_relevant_item_ranked_first(inputs: Inputs) -> Inputs:
    y, s = np.zeros_like(inputs[0]), inputs[1].copy()
    y[:, 0] = 1.0
    y[0, -2:] = -1.0
    s[:, 0] = 20.0
    return [y, s]


def strictly_ordered_lists(inputs: Inputs) -> Inputs:
    r = rng()
    y = np.argsort(r.random(inputs[0].shape), axis=-1).astype(float)
    s = 30.0 * y + r.normal(size=y.shape)
    y[0, -2:] = -1.0
    return [y, s]


def lists_on_axis_0(inputs: Inputs) -> Inputs:
    return [inputs[0].T, inputs[1].T]


def mask_pixels(inputs: Inputs) -> np.ndarray:
    return rng().random(inputs[1].shape[:-1]) > 0.3


#: (loss, id, input transform, parameters over the case's)
VARIANTS: list[tuple[str, str, Callable[[Inputs], Inputs], dict[str, Any]]] = [
    ("dice", "per_batch_probs", probabilities, {"from_logits": False, "per_image": False}),
    ("dice", "index_smooth", index_targets, {"smooth": 1.5}),
    ("dice", "soft_targets", soft_targets, {}),
    ("dice", "empty_ignore", class_absent_from_image, {}),
    ("dice", "empty_zero", class_absent_from_image, {"empty": "zero"}),
    ("dice", "empty_one", class_absent_from_image, {"empty": "one"}),
    ("dice", "empty_keep_smooth", class_absent_from_image, {"empty": "keep", "smooth": 1.0}),
    ("dice", "class_weight", class_absent_from_image, {"class_weight": [0.5, 2.0, 1.0]}),
    ("dice", "ignore_index", ignored_pixels, {"ignore_index": 255}),
    ("dice", "multilabel", multilabel_soft, {"mode": "multilabel"}),
    ("dice", "binary", binary_probabilities, {"mode": "binary", "from_logits": False}),
    (
        "dice",
        "binary_mask",
        binary_probabilities,
        {"mode": "binary", "from_logits": False, "mask": rng().random((2, 8, 8)) > 0.5},
    ),
    ("dice", "channels_first", channels_first, {"axis": 1}),
    ("dice", "soft_channels_first", ignored_and_dense_nchw, {"axis": 1, "per_image": False}),
    (
        "dice",
        "multilabel_empty_image_keep",
        multilabel_empty_image,
        {"mode": "multilabel", "empty": "keep", "smooth": 0.4},
    ),
    ("dice", "smooth_nr_dr", class_absent_from_image, {"smooth_nr": 0.0, "smooth_dr": 1e-3}),
    ("dice", "squared_pred_soft", soft_targets, {"squared_pred": True, "smooth": 0.2}),
    (
        "dice",
        "unnormalized_class_weight",
        class_absent_from_image,
        {"class_weight": [0.5, 2.0, 1.0], "normalize_class_weight": False, "empty": "keep"},
    ),
    (
        "dice",
        "per_class",
        class_absent_from_image,
        {"per_class": True, "class_weight": [0.5, 2.0, 1.0]},
    ),
    ("dice", "per_class_batch", same, {"per_class": True, "per_image": False}),
    (
        "dice",
        "per_class_binary",
        binary_probabilities,
        {"mode": "binary", "from_logits": False, "per_class": True},
    ),
    ("jaccard", "per_image_smooth", same, {"per_image": True, "smooth": 0.5}),
    ("jaccard", "squared_smooth_nr_dr", same, {"squared_pred": True, "smooth_dr": 0.3}),
    ("jaccard", "per_class_ignore", ignored_pixels, {"per_class": True, "ignore_index": 255}),
    ("jaccard", "soft_targets", soft_targets, {"per_image": True}),
    ("jaccard", "multilabel_empty_zero", multilabel_soft, {"mode": "multilabel", "empty": "zero"}),
    ("tversky", "alpha_beta", same, {"alpha": 0.2, "beta": 0.9}),
    ("tversky", "per_batch_class_weight", same, {"per_image": False, "class_weight": [1, 0, 3]}),
    ("tversky", "ignore_index", ignored_pixels, {"ignore_index": 255, "alpha": 0.7, "beta": 0.3}),
    ("tversky", "smooth_nr_per_class", same, {"smooth_nr": 0.5, "per_class": True}),
    (
        "tversky",
        "unnormalized_multilabel",
        multilabel_soft,
        {"mode": "multilabel", "normalize_class_weight": False, "class_weight": [1, 0, 3]},
    ),
    ("focal_tversky", "squared_per_class", same, {"squared_pred": True, "per_class": True}),
    ("focal_tversky", "gamma", same, {"gamma": 1.6, "per_image": True}),
    ("focal_tversky", "soft_smooth", soft_targets, {"smooth": 0.3, "alpha": 0.5, "beta": 0.5}),
    ("generalized_dice", "simple", same, {"w_type": "simple"}),
    ("generalized_dice", "uniform_per_batch", same, {"w_type": "uniform", "per_image": False}),
    ("generalized_dice", "empty_class", class_absent_from_image, {"smooth": 0.2}),
    ("generalized_dice", "class_weight", same, {"class_weight": [2.0, 1.0, 0.5]}),
    (
        "generalized_dice",
        "smooth_nr_dr",
        class_absent_from_image,
        {"smooth_nr": 0.0, "smooth_dr": 0.5},
    ),
    ("generalized_dice", "per_class", same, {"per_class": True}),
    ("generalized_dice", "per_class_batch", same, {"per_class": True, "per_image": False}),
    ("generalized_dice", "multilabel", multilabel_soft, {"mode": "multilabel"}),
    ("generalized_dice", "tiny_volumes", tiny_volumes, {"mode": "multilabel", "smooth": 1e-3}),
    (
        "generalized_dice",
        "empty_image_keep",
        multilabel_empty_image,
        {"mode": "multilabel", "empty": "keep", "smooth": 0.4},
    ),
    (
        "generalized_dice",
        "empty_image_one",
        multilabel_empty_image,
        {"mode": "multilabel", "empty": "one"},
    ),
    ("lovasz_softmax", "all_classes", class_absent_from_image, {"classes": "all"}),
    ("lovasz_softmax", "present", class_absent_from_image, {}),
    ("lovasz_softmax", "chosen_classes", same, {"classes": [0, 2], "per_image": False}),
    ("lovasz_softmax", "class_weight", same, {"class_weight": [1.0, 3.0, 0.5]}),
    ("lovasz_softmax", "ignore_index", ignored_pixels, {"ignore_index": 255}),
    ("lovasz_softmax", "probabilities", probabilities, {"from_logits": False}),
    ("lovasz_softmax", "tied_errors", tied_probabilities, {"from_logits": False}),
    ("lovasz_softmax", "multilabel", multilabel_hard, {"mode": "multilabel"}),
    ("lovasz_hinge", "per_image", same, {"per_image": True}),
    ("lovasz_hinge", "empty_image", hinge_empty_image, {"per_image": True}),
    ("lovasz_hinge", "tied_scores", hinge_tied_scores, {"per_image": True}),
    ("lovasz_hinge", "prefix_mask", same, {"mask": rng().random((2, 8, 8)) > 0.3}),
    ("lovasz_hinge", "ignore_index", hinge_ignored, {"ignore_index": 255, "per_image": True}),
    ("lovasz_hinge", "multilabel", hinge_multilabel, {"mode": "multilabel", "per_image": True}),
    (
        "lovasz_hinge",
        "multilabel_weighted",
        hinge_multilabel,
        {"mode": "multilabel", "class_weight": [1.0, 0.0, 2.0]},
    ),
    ("boundary_loss", "per_class_weight", same, {"per_class": True, "class_weight": [0, 1, 2]}),
    ("boundary_loss", "index_channels_first", index_channels_first, {"axis": 1}),
    ("boundary_loss", "multilabel", multilabel_hard, {"mode": "multilabel"}),
    (
        "boundary_loss",
        "binary_mask",
        binary_probabilities,
        {"mode": "binary", "from_logits": False, "mask": rng().random((2, 8, 8)) > 0.5},
    ),
    ("hausdorff_dt", "alpha_per_class", same, {"alpha": 1.5, "per_class": True}),
    ("hausdorff_dt", "binary", binary_probabilities, {"mode": "binary", "from_logits": False}),
    ("hausdorff_dt", "class_absent", class_absent_from_image, {"class_weight": [0, 1, 1]}),
    ("soft_cldice", "options", same, {"iter_": 5, "smooth_nr": 0.1, "smooth_dr": 0.2}),
    ("soft_cldice", "soft_multilabel", multilabel_soft, {"mode": "multilabel", "smooth": 1e-2}),
    (
        "soft_cldice",
        "class_weight_mask",
        same,
        {"class_weight": [0, 1, 2], "mask": rng().random((2, 8, 8)) > 0.3},
    ),
    ("soft_cldice", "binary", binary_probabilities, {"mode": "binary", "from_logits": False}),
    ("contrastive", "raw_squared", same, {"normalize": False, "squared": True}),
    ("contrastive", "margins", same, {"pos_margin": 0.3, "neg_margin": 1.7}),
    ("contrastive", "duplicated_rows", duplicated_rows, {}),
    ("supervised_contrastive", "temperature", same, {"temperature": 0.7}),
    ("supervised_contrastive", "anchor_without_positive", singleton_label, {}),
    ("supervised_contrastive", "duplicated_rows", duplicated_rows, {"temperature": 0.3}),
    ("circle", "m_gamma", same, {"m": 0.4, "gamma": 80.0}),
    ("circle", "anchor_without_positive", singleton_label, {"gamma": 3.0}),
    ("circle", "separated_clusters", separated_clusters, {}),
    ("circle", "reference_set", same, {"m": 0.4, "gamma": 8.0, **REFERENCE_SET}),
    ("circle", "reference_set_no_diagonal", same, {"gamma": 4.0, **REFERENCE_SET_DIAGONAL}),
    ("circle", "keep_diagonal", same, {"remove_diagonal": False, "gamma": 5.0}),
    ("contrastive", "squared_euclidean", same, {"distance": "squared_euclidean"}),
    ("contrastive", "cosine", same, {"distance": "cosine", "pos_margin": 0.8, "neg_margin": -0.1}),
    (
        "contrastive",
        "dot_squared",
        same,
        {"distance": "cosine", "normalize": False, "squared": True},
    ),
    ("grouped_info_nce", "pairs", same, {"temperature": 0.2}),
    ("multi_similarity", "pml_defaults", same, {"alpha": 2.0, "beta": 50.0, "base": 0.5}),
    ("multi_similarity", "anchor_without_positive", singleton_label, {"base": -0.2}),
    ("multi_similarity", "separated_clusters", separated_clusters, {"beta": 40.0}),
    ("arcface", "paper", same, {"margin": 0.5, "scale": 64.0}),
    ("arcface", "past_pi_minus_m", far_from_centre, {"margin": 2.5, "scale": 2.0}),
    ("subcenter_arcface", "three", three_sub_centres, {"sub_centers": 3, "margin": 0.5}),
    ("cosface", "paper", same, {"margin": 0.35, "scale": 64.0}),
    ("sphereface", "m4", same, {"margin": 4, "scale": 1.0}),
    ("proxy_anchor", "paper", same, {"margin": 0.1, "alpha": 32.0}),
    ("proxy_anchor", "proxy_without_embeddings", one_class_absent, {"margin": -0.2}),
    ("sphereface", "m1", same, {"margin": 1, "scale": 2.0}),
    ("sphereface", "far_from_centre", far_from_centre, {"margin": 4}),
    ("grouped_info_nce", "dot_products", duplicated_rows, {"normalize": False, "temperature": 3.0}),
    ("grouped_info_nce", "no_negative", one_label, {"temperature": 0.3}),
    ("grouped_info_nce", "anchor_without_positive", singleton_label, {}),
    ("triplet_margin", "p1_swap", same, {"p": 1.0, "swap": True}),
    ("triplet_margin", "p_inf", same, {"p": float("inf"), "margin": 2.0}),
    ("triplet_margin", "eps_sum_p3", same, {"eps_mode": "sum", "p": 3.0, "eps": 1e-3}),
    ("triplet_margin", "broadcast", broadcast_triplet, {"margin": 1.5}),
    ("margin_ranking", "margin", same, {"margin": 0.4}),
    ("margin_ranking", "negative_margin", same, {"margin": -0.3}),
    ("cosine_embedding", "margin", same, {"margin": -0.2}),
    ("cosine_embedding", "tiny_vectors", tiny_vectors, {"margin": 0.1}),
    ("cosine_embedding", "broadcast", broadcast_pairs, {}),
    ("hinge_embedding", "margin", same, {"margin": 1.6}),
    ("info_nce", "cross_view", same, {"negatives": "cross_view"}),
    ("info_nce", "one_sided", same, {"symmetric": False, "temperature": 0.5}),
    ("info_nce", "cross_view_one_sided", same, {"negatives": "cross_view", "symmetric": False}),
    ("info_nce", "dot_products", same, {"normalize": False, "temperature": 2.0}),
    ("info_nce", "matching_views_cross", matching_views, {"negatives": "cross_view"}),
    ("sigmoid_contrastive", "paper_defaults", same, {"logit_scale": 10.0, "bias": -10.0}),
    ("vicreg", "coefficients", same, {"sim_coeff": 10.0, "std_coeff": 5.0, "cov_coeff": 3.0}),
    ("vicreg", "eps", same, {"eps": 1e-2}),
    ("barlow_twins", "off_diagonal_weight", same, {"off_diagonal_weight": 0.05}),
    ("barlow_twins", "eps", same, {"eps": 1e-3}),
    ("sigmoid_contrastive", "raw", same, {"normalize": False, "logit_scale": 0.5, "bias": 0.3}),
    ("sigmoid_contrastive", "far_tails", orthonormal_views, {"logit_scale": 100.0, "bias": -50.0}),
    ("pairwise_logistic", "normalize_pairs", awkward_lists, {"normalize_pairs": True}),
    ("pairwise_logistic", "axis_0", lists_on_axis_0, {"axis": 0}),
    ("pairwise_logistic", "infinite_padding", infinite_padding, {}),
    ("pairwise_logistic", "one_list", one_list, {}),
    ("pairwise_hinge", "tied_scores", tied_scores, {}),
    ("pairwise_hinge", "three_dimensional", three_dimensional, {}),
    ("pairwise_hinge", "normalized", awkward_lists, {"margin": 0.5, "normalize_pairs": True}),
    ("listnet", "normalize", awkward_lists, {"target": "normalize"}),
    ("listnet", "softmax_awkward", awkward_lists, {}),
    ("listnet", "infinite_padding", infinite_padding, {"target": "normalize"}),
    ("listnet", "graded_relevance", graded_relevance, {"target": "normalize"}),
    ("listmle", "awkward", awkward_lists, {}),
    ("listmle", "axis_0", lists_on_axis_0, {"axis": 0}),
    ("listmle", "infinite_padding", infinite_padding, {}),
    ("listmle", "one_relevant_item_ranked_first", one_relevant_item_ranked_first, {}),
    ("approx_ndcg", "temperature", awkward_lists, {"temperature": 1.3}),
    ("approx_ndcg", "sharp", graded_relevance, {"temperature": 0.001}),
    ("approx_ndcg", "infinite_padding", infinite_padding, {}),
    ("lambda_loss", "ndcg_loss2", awkward_lists, {"weighting": "ndcg_loss2"}),
    ("lambda_loss", "lambdarank_sigma", same, {"weighting": "lambdarank", "sigma": 2.5}),
    ("lambda_loss", "mu", awkward_lists, {"mu": 3.0}),
    ("lambda_loss", "tied_scores", tied_scores, {}),
    ("lambda_loss", "infinite_padding", infinite_padding, {"weighting": "ndcg_loss2"}),
]


#: inputs whose loss is tiny: the relative accuracy of the value
SMALL_LOSSES = [
    pytest.param("info_nce", near_orthonormal_views, {"temperature": 0.05}, id="info_nce"),
    pytest.param(
        "info_nce",
        near_orthonormal_views,
        {"negatives": "cross_view", "temperature": 0.05},
        id="info_nce-cross-view",
    ),
    pytest.param("circle", separated_clusters, {"gamma": 256.0}, id="circle"),
    pytest.param(
        "grouped_info_nce", separated_clusters, {"temperature": 0.05}, id="grouped_info_nce"
    ),
    pytest.param(
        "multi_similarity",
        separated_clusters,
        {"alpha": 40.0, "beta": 40.0, "base": 0.5},
        id="multi_similarity",
    ),
    pytest.param(
        "listmle",
        strictly_ordered_lists,
        {},
        id="listmle",
    ),
    pytest.param("pairwise_logistic", strictly_ordered_lists, {}, id="pairwise_logistic"),
    pytest.param("lambda_loss", strictly_ordered_lists, {}, id="lambda_loss"),
    pytest.param(
        "sigmoid_contrastive",
        orthonormal_views,
        {"bias": -30.0, "logit_scale": 60.0},
        id="sigmoid_contrastive",
    ),
    pytest.param(
        "supervised_contrastive",
        separated_clusters,
        {"temperature": 0.05},
        id="supervised_contrastive",
    ),
    pytest.param(
        "listnet",
        one_relevant_item_ranked_first,
        {"target": "normalize"},
        id="listnet-normalize",
    ),
]

MASKED = [
    ("dice", {"per_image": True}),
    ("generalized_dice", {"per_image": True}),
    ("lovasz_softmax", {"per_image": True}),
]


def compare(name: str, inputs: Inputs, params: dict[str, Any]) -> None:
    expected = REFERENCES[name](inputs, dict(params))
    got = np.asarray(getattr(lk, name)(*inputs, **params, reduction="none"))
    assert expected.dtype == np.float64
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-300)


def test_every_loss_of_the_three_families_has_a_reference() -> None:
    families = {"segmentation", "metric", "ranking"}
    names = {n for n in lk.names() if lk.info(n).family in families}
    assert names == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_matches_the_case(name: str) -> None:
    case = cases.case(name)
    compare(name, case.inputs, case.params)


@pytest.mark.parametrize(
    ("name", "transform", "params"),
    [pytest.param(n, t, p, id=f"{n}-{i}") for n, i, t, p in VARIANTS],
)
def test_reference_matches_a_variant(
    name: str, transform: Callable[[Inputs], Inputs], params: dict[str, Any]
) -> None:
    case = cases.case(name)
    compare(name, transform(case.inputs), {**case.params, **params})


@pytest.mark.parametrize(("name", "transform", "params"), SMALL_LOSSES)
def test_reference_matches_to_relative_accuracy_when_the_loss_is_tiny(
    name: str, transform: Callable[[Inputs], Inputs], params: dict[str, Any]
) -> None:
    case = cases.case(name)
    inputs = transform(case.inputs)
    assert 0 < np.max(REFERENCES[name](inputs, {**case.params, **params})) < 1e-6
    compare(name, inputs, {**case.params, **params})


@pytest.mark.parametrize(("name", "params"), MASKED)
def test_reference_matches_with_a_pixel_mask(name: str, params: dict[str, Any]) -> None:
    case = cases.case(name)
    inputs = index_targets(case.inputs)
    compare(name, inputs, {**case.params, **params, "mask": mask_pixels(inputs)})


def test_every_loss_has_a_non_default_variant() -> None:
    assert {n for n, *_ in VARIANTS} == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_refuses_an_option_it_does_not_model(name: str) -> None:
    case = cases.case(name)
    with pytest.raises(NotImplementedError):
        REFERENCES[name](case.inputs, {**case.params, "unmodelled_option": 1})
