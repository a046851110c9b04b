"""Tests for the self-checks of notebooks 05 and 06 (kl_helpers.selfcheck_applications).

Each misconception is written the way a student would write it (loops, math, numpy: not
the module's own variant formulas) and fed to ``check``; the message must name it.
Correct implementations unlike the model answers, and the honest class's answers, pass.
"""

from __future__ import annotations

import ast
import contextlib
import io
import math
import re
import statistics
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import scipy
from honest import STYLES, load_answers
from scipy import special, stats

from kl_helpers.selfcheck import (
    EXERCISES,
    GRADED_CHECKS,
    SelfCheckFailed,
    check,
    diagnose,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_05 = ("k1_per_sample", "k2_per_sample", "k3_per_sample", "ppo_kl_penalty",
               "adapt_beta", "ppo_kl_penalty_training", "group_normalized_advantages",
               "grpo_token_objective")
NOTEBOOK_06 = ("vae_kl", "distillation_loss", "soft_target_gradient", "elbo_gaussian",
               "coding_cost_bits")
ASSIGNMENT_OF = {**dict.fromkeys(NOTEBOOK_05, "05_rl"),
                 **dict.fromkeys(NOTEBOOK_06, "06_applications")}


def named(name, func=None, **fixed):
    """``func`` (with keyword arguments ``fixed``) under the exercise's function name."""
    if func is None:
        return lambda f: named(name, f, **fixed)

    def student(*args):
        with np.errstate(all="ignore"):
            return func(*args, **fixed)

    student.__name__ = student.__qualname__ = name
    return student


def failure(func, **options) -> str:
    with pytest.raises(SelfCheckFailed) as info:
        check(func, **options)
    assert not info.value.result
    return str(info.value)


def first_cause(message: str) -> str:
    """The diagnosis of the first failing case: what the student reads first."""
    return message.split("likely cause: ", 1)[1].split("\n", 1)[0]


def passes(func) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        result = check(func, raise_on_failure=False)
    assert result, result.message


# -- every exercise: the reference passes, quickly, in few calls, and is registered -------


@pytest.mark.parametrize("name", NOTEBOOK_05 + NOTEBOOK_06)
def test_the_reference_passes_quickly_in_few_calls(name, capsys):
    reference = EXERCISES[name].reference
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return reference(*args, **kwargs)

    start = time.perf_counter()
    result = check(counting, exercise=name)
    seconds = time.perf_counter() - start
    assert result.passed and "counting passed all" in capsys.readouterr().out
    assert 1 <= len(calls) <= 12
    assert seconds < 0.5, f"check({name}) took {seconds:.2f} s"


@pytest.mark.parametrize("name", NOTEBOOK_05 + NOTEBOOK_06)
def test_each_graded_function_is_registered_with_a_plain_check(name):
    # the notebooks' check cells call check(func) with no options
    assert GRADED_CHECKS[(ASSIGNMENT_OF[name], name)] == {}
    assert EXERCISES[name].default_features == ()
    assert all(case.feature == "core" for case in EXERCISES[name].cases)


@pytest.mark.parametrize("name", NOTEBOOK_05 + NOTEBOOK_06)
def test_every_variant_is_named_and_a_wrong_answer_is_checked_quickly(name):
    """Each catalogued mistake, as a function, is named at the first case it fails."""
    exercise = EXERCISES[name]
    for text, variant in exercise.variants:
        start = time.perf_counter()
        message = failure(named(name, variant))
        assert time.perf_counter() - start < 0.5
        assert first_cause(message) == text + "."


# -- notebook 05, Exercise 1: k1, k2, k3 ---------------------------------------------------


def _lr(logp, logq):
    return np.asarray(logp, dtype=float) - np.asarray(logq, dtype=float)


K_MISTAKES = [
    ("k1_per_sample", lambda lp, lq: _lr(lp, lq), "your k1 has the wrong sign"),
    # r = q/p: -log r is log p - log q, the same sign error
    ("k1_per_sample", lambda lp, lq: -np.log(np.exp(lq) / np.exp(lp)),
     "your k1 has the wrong sign"),
    ("k1_per_sample", lambda lp, lq: -np.log(np.asarray(lp) / np.asarray(lq)),
     "treats logp and logq as probabilities"),
    ("k1_per_sample", lambda lp, lq: float(np.mean(-_lr(lp, lq))),
     "one number (the mean over the samples) instead of one k1 value per sample"),
    ("k2_per_sample", lambda lp, lq: _lr(lp, lq) ** 2, "the 1/2 is missing"),
    ("k2_per_sample", lambda lp, lq: (0.5 * _lr(lp, lq)) ** 2, "(log r)^2 / 4"),
    ("k2_per_sample", lambda lp, lq: 0.5 * (np.exp(_lr(lp, lq)) - 1) ** 2,
     "squares r - 1 instead of log r"),
    ("k2_per_sample", lambda lp, lq: -0.5 * _lr(lp, lq) ** 2, "your k2 has the wrong sign"),
    ("k2_per_sample", lambda lp, lq: np.mean(0.5 * _lr(lp, lq) ** 2),
     "instead of one k2 value per sample"),
    ("k3_per_sample", lambda lp, lq: (np.exp(-_lr(lp, lq)) - 1) + _lr(lp, lq),
     "your k3 uses the ratio upside down, r = q(x)/p(x)"),
    ("k3_per_sample", lambda lp, lq: (np.exp(_lr(lp, lq)) - 1) + _lr(lp, lq),
     "adds log r instead of subtracting it"),
    ("k3_per_sample", lambda lp, lq: np.exp(_lr(lp, lq)) - _lr(lp, lq), "forgets the -1"),
    ("k3_per_sample", lambda lp, lq: _lr(lp, lq) - np.expm1(_lr(lp, lq)),
     "your k3 has the wrong sign"),
    ("k3_per_sample", lambda lp, lq: -_lr(lp, lq), "returns k1 = -log r, not k3"),
    ("k3_per_sample", lambda lp, lq: np.mean(np.expm1(_lr(lp, lq)) - _lr(lp, lq)),
     "instead of one k3 value per sample"),
]


@pytest.mark.parametrize("name, wrong, phrase", K_MISTAKES)
def test_k_estimator_mistakes_are_named(name, wrong, phrase):
    message = failure(named(name, wrong))
    assert phrase in first_cause(message)
    assert f"tried:    {name}([-1.6, -0.4, -2.3, -0.25], [-0.7, -1.1, -2.3, -1.45])" in message


def test_k3_upside_down_shows_inputs_expected_and_received():
    upside_down = named("k3_per_sample", K_MISTAKES[9][1])
    logp, logq = [-1.6, -0.4, -2.3, -0.25], [-0.7, -1.1, -2.3, -1.45]
    message = failure(upside_down)
    assert "expected: [0.30656965974059924, 0.31375270747047657, 0.0, 1.1201169227365473]" in (
        message)
    assert f"received: {upside_down(np.array(logp), np.array(logq)).tolist()}" in message
    assert "the same mistake as in 1." in message  # the ratios near 1 show it too


K_CORRECT = [
    ("k1_per_sample", lambda lp, lq: [float(b) - float(a) for a, b in zip(lp, lq, strict=True)]),
    ("k1_per_sample", lambda lp, lq: np.log(np.exp(lq) / np.exp(lp))),
    ("k2_per_sample", lambda lp, lq: np.square(np.subtract(lq, lp)) / 2),
    ("k2_per_sample", lambda lp, lq: np.array([0.5 * math.log(math.exp(a) / math.exp(b)) ** 2
                                               for a, b in zip(lp, lq, strict=True)])),
    # r - 1 computed plainly: the text allows it (tolerance), only expm1 is more exact
    ("k3_per_sample", lambda lp, lq: np.exp(_lr(lp, lq)) - 1 - _lr(lp, lq)),
    ("k3_per_sample", lambda lp, lq: np.array([
        math.exp(a) / math.exp(b) - 1 - math.log(math.exp(a) / math.exp(b))
        for a, b in zip(lp, lq, strict=True)])),
]


@pytest.mark.parametrize("name, correct", K_CORRECT)
def test_k_estimators_written_differently_pass(name, correct):
    passes(named(name, correct))


# -- notebook 05, Exercise 2: PPO's KL penalty ---------------------------------------------


def ppo_student(pi_old, pi_new, actions, advantages, beta, *, mistake=None):
    """L^KLPEN written with loops; ``mistake`` changes one thing, as students do."""
    values = []
    for old, new, a, adv in zip(pi_old, pi_new, actions, advantages, strict=True):
        a = int(a)
        ratio = old[a] / new[a] if mistake == "inverted" else new[a] / old[a]
        clipped = min(max(ratio, 0.8), 1.2)
        gain = {"clipped": clipped * adv,
                "min_clipped": min(ratio * adv, clipped * adv)}.get(mistake, ratio * adv)
        if mistake == "reverse":
            terms = [n * math.log(n / o) for o, n in zip(old, new, strict=True)]
        elif mistake == "bits":
            terms = [o * math.log2(o / n) for o, n in zip(old, new, strict=True)]
        else:
            terms = [o * math.log(o / n) for o, n in zip(old, new, strict=True)]
        kl = {"mean_actions": sum(terms) / len(terms),
              "taken_log": math.log(old[a] / new[a]),
              "taken_term": old[a] * math.log(old[a] / new[a])}.get(mistake, sum(terms))
        weight = 1.0 if mistake == "no_beta" else beta
        values.append(gain + weight * kl if mistake == "plus" else gain - weight * kl)
    if mistake == "sum":
        return sum(values)
    if mistake == "per_sample":
        return np.array(values)
    return sum(values) / len(values)


PPO_MISTAKES = [
    ("reverse", "your KL is in the wrong direction: you penalise KL(pi_new || pi_old)"),
    ("clipped", "you clipped the ratio: L^KLPEN uses the plain ratio"),
    ("min_clipped", "you wrote min(r A, clip(r, 0.8, 1.2) A) - beta KL"),
    ("inverted", "your ratio is upside down"),
    ("plus", "you add the penalty instead of subtracting it"),
    ("no_beta", "your KL is not multiplied by beta"),
    ("taken_log", "your KL uses only the action taken"),
    ("taken_term", "your KL keeps only the taken action's term"),
    ("mean_actions", "your KL averages the terms"),
    ("bits", "your KL is in bits"),
    ("sum", "you summed over the samples"),
    ("per_sample", "returned one value per sample"),
]


@pytest.mark.parametrize("mistake, phrase", PPO_MISTAKES)
def test_ppo_kl_penalty_mistakes_are_named(mistake, phrase):
    message = failure(named("ppo_kl_penalty", ppo_student, mistake=mistake))
    assert phrase in first_cause(message)


def test_ppo_wrong_direction_shows_the_case():
    message = failure(named("ppo_kl_penalty", ppo_student, mistake="reverse"))
    assert ("tried:    ppo_kl_penalty([[0.2, 0.5, 0.3], [0.55, 0.35, 0.1], [0.3, 0.2, 0.5]], "
            "[[0.35, 0.4, 0.25], [0.5, 0.2, 0.3], [0.3, 0.3, 0.4]], np.array([0, 2, 1]), "
            "[1.5, -0.8, 0.4], 0.7)") in message
    assert "expected: 0.2229086285124495" in message
    assert "received: 0.21353643768339203" in message
    assert "old policy (which collected the data) first" in message


@named("ppo_kl_penalty")
def ppo_einsum(pi_old, pi_new, actions, advantages, beta):
    old, new = np.asarray(pi_old), np.asarray(pi_new)
    onehot = np.eye(old.shape[1])[np.asarray(actions)]
    ratio = np.einsum("ij,ij->i", onehot, new) / np.einsum("ij,ij->i", onehot, old)
    kl = np.einsum("ij,ij->i", old, np.log(old) - np.log(new))
    return np.float64(np.average(ratio * advantages - beta * kl))


@pytest.mark.parametrize("correct", [ppo_einsum, named("ppo_kl_penalty", ppo_student)])
def test_ppo_written_differently_passes(correct):
    passes(correct)


# -- notebook 05, Exercise 3: adaptive beta ------------------------------------------------


def adapt_student(beta, kl, kl_target, *, mistake=None):
    low, high = kl_target / 1.5, kl_target * 1.5
    if mistake == "swapped_thresholds":
        low, high = high, low
    elif mistake == "no_band":
        low = high = kl_target
    elif mistake == "band_of_two":
        low, high = kl_target / 2, kl_target * 2
    factor = 1.5 if mistake == "factor_1_5" else 2.0
    if mistake == "inclusive":
        if kl <= low:
            return beta / factor
        if kl >= high:
            return beta * factor
        return beta
    if kl < low:
        return beta * factor if mistake == "swapped_factors" else beta / factor
    if kl > high:
        return beta / factor if mistake == "swapped_factors" else beta * factor
    return beta


ADAPT_MISTAKES = [
    ("swapped_factors", "doubles beta when the KL is too small and halves it"),
    ("swapped_thresholds", "your thresholds are swapped"),
    ("no_band", "your function has no band"),
    ("band_of_two", "your thresholds are kl_target / 2 and 2 * kl_target"),
    ("factor_1_5", "your factor is 1.5"),
    ("inclusive", "your comparisons include the band's ends"),
]


@pytest.mark.parametrize("mistake, phrase", ADAPT_MISTAKES)
def test_adapt_beta_mistakes_are_named(mistake, phrase):
    message = failure(named("adapt_beta", adapt_student, mistake=mistake))
    assert phrase in first_cause(message)


def test_adapt_beta_inclusive_ends_fail_exactly_the_two_ends():
    message = failure(named("adapt_beta", adapt_student, mistake="inclusive"))
    assert "2 of 5 self-check cases" in message
    assert "tried:    adapt_beta(0.8, 2.0, 3.0)" in message
    assert "expected: 0.8" in message and "received: 0.4" in message
    assert "tried:    adapt_beta(0.8, 4.5, 3.0)" in message


@pytest.mark.parametrize("correct", [
    named("adapt_beta", adapt_student),
    # multiplied out instead of divided: the same comparisons, exact at these ends
    named("adapt_beta", lambda b, d, t: np.float64(b * (0.5 if 1.5 * d < t else
                                                        2.0 if d > 1.5 * t else 1.0))),
])
def test_adapt_beta_written_differently_passes(correct):
    passes(correct)


# -- notebook 05, Exercise 3 (b): a PPO training loop with the adaptive penalty -------------


def training_student(logits, probs, states, uniforms, beta, kl_target, lr, epochs, *,
                     mistake=None):
    """A student's loop, one state at a time, with the mistake named (if any)."""
    theta = np.array(logits, dtype=float)
    probs = np.asarray(probs, dtype=float)
    rows = []
    for s_batch, u_batch in zip(np.asarray(states), np.asarray(uniforms), strict=True):
        old = np.exp(theta) / np.exp(theta).sum(axis=1, keepdims=True)
        acts = np.array([np.searchsorted(np.cumsum(old[s])[:-1], u, side="right")
                         for s, u in zip(s_batch, u_batch[:, 0], strict=True)])
        rew = (u_batch[:, 1] < probs[s_batch, acts]).astype(float)
        adv = rew.copy()
        if mistake == "global_baseline":
            adv = rew - rew.mean()
        elif mistake != "no_baseline":
            for s in set(s_batch.tolist()):
                adv[s_batch == s] -= rew[s_batch == s].mean()
        for _ in range(epochs):
            pi = np.exp(theta) / np.exp(theta).sum(axis=1, keepdims=True)
            grad = np.zeros_like(theta)
            for t, (s, a) in enumerate(zip(s_batch, acts, strict=True)):
                rho = 1.0 if mistake == "no_ratio" else pi[s, a] / old[s, a]
                if mistake == "clip" and (rho > 1.2 if adv[t] > 0 else rho < 0.8):
                    rho = 0.0                       # PPO-clip: this sample stops pulling
                sign = 1.0 if mistake == "penalty_sign" else -1.0
                grad[s] += rho * adv[t] * (np.eye(len(pi[s]))[a] - pi[s])
                if mistake == "both_reversed":      # gradient of KL(pi || old)
                    log_gap = np.log(pi[s] / old[s])
                    grad[s] -= beta * pi[s] * (log_gap - np.dot(pi[s], log_gap))
                elif mistake != "penalty_per_state":
                    grad[s] += sign * beta * (pi[s] - old[s])
            if mistake == "penalty_per_state":
                for s in set(s_batch.tolist()):
                    grad[s] -= beta * (pi[s] - old[s])
            theta = theta + lr * grad / len(s_batch)
            if mistake == "adapt_each_epoch":
                now = np.exp(theta) / np.exp(theta).sum(axis=1, keepdims=True)
                beta = adapt_student(
                    beta, np.mean([np.sum(old[s] * np.log(old[s] / now[s])) for s in s_batch]),
                    kl_target)
        new = np.exp(theta) / np.exp(theta).sum(axis=1, keepdims=True)
        reversed_kl = mistake in ("kl_reversed", "both_reversed")
        first, second = (new, old) if reversed_kl else (old, new)
        if mistake == "d_over_states":
            kl = np.mean([np.sum(first[s] * np.log(first[s] / second[s]))
                          for s in range(len(theta))])
        else:
            kl = np.mean([np.sum(first[s] * np.log(first[s] / second[s])) for s in s_batch])
        recorded = beta
        if mistake not in ("fixed_beta", "adapt_each_epoch"):
            beta = adapt_student(beta, kl, kl_target)
        if mistake != "beta_before":
            recorded = beta
        shown = old if mistake == "return_before" else new
        rows.append([kl, recorded, np.mean(np.sum(shown * probs, axis=1))])
    return np.array(rows)


TRAINING_MISTAKES = [
    ("no_baseline", "your advantages are the rewards themselves"),
    ("no_ratio", "your gradient leaves out the ratio"),
    ("penalty_sign", "your penalty pushes away from pi_old"),
    ("fixed_beta", "beta never changes"),
    ("kl_reversed", "your KL d is in the wrong direction"),
    ("return_before", "your third column is the return of the policy before the update"),
    ("both_reversed", "your penalty and your d both use KL(pi_theta || pi_old)"),
    ("beta_before", "your second column is beta before adapting it"),
    ("adapt_each_epoch", "you adapt beta after every epoch"),
    ("clip", "your gradient applies PPO's clip"),
    ("penalty_per_state", "your penalty counts once per state of the batch"),
    ("global_baseline", "your baseline is the whole batch's mean reward"),
    ("d_over_states", "your d averages the KL over all states equally"),
]


@pytest.mark.parametrize("mistake, phrase", TRAINING_MISTAKES)
def test_training_mistakes_are_named(mistake, phrase):
    message = failure(named("ppo_kl_penalty_training", training_student, mistake=mistake))
    assert phrase in first_cause(message)


def test_training_written_differently_passes():
    passes(named("ppo_kl_penalty_training", training_student))


# -- notebook 05, Exercise 4: group-normalised advantages ----------------------------------


def group_student(rewards, *, mistake=None):
    r = np.asarray(rewards, dtype=float)
    if mistake not in ("std_is_zero", "no_equal_test") and np.all(r == r[0]):
        return 0.0 if mistake == "scalar_zero" else np.zeros(r.size)
    if mistake == "std_is_zero" and np.std(r) == 0:
        return np.zeros(r.size)
    centred = r - r.mean()
    scale = {"sample_std": statistics.stdev(r) if r.size > 1 else 0.0,
             "no_std": 1.0, "variance": np.var(r)}.get(mistake, np.std(r))
    if mistake == "no_centre":
        centred = r
    with np.errstate(all="ignore"):
        return centred / scale


GROUP_MISTAKES = [
    ("sample_std", "you divided by the sample standard deviation (ddof=1"),
    ("no_std", "you did not divide by the standard deviation"),
    ("no_centre", "you did not subtract the mean"),
    ("variance", "you divided by the variance"),
    ("std_is_zero", "a test `std == 0` misses it"),
    ("scalar_zero", "not the number 0"),
]


@pytest.mark.parametrize("mistake, phrase", GROUP_MISTAKES)
def test_group_advantages_mistakes_are_named(mistake, phrase):
    message = failure(named("group_normalized_advantages", group_student, mistake=mistake))
    assert phrase in first_cause(message)


def test_group_advantages_without_an_equality_test():
    message = failure(named("group_normalized_advantages", group_student,
                            mistake="no_equal_test"))
    assert "2 of 4 self-check cases" in message
    assert "tried:    group_normalized_advantages([0.7, 0.7, 0.7])" in message
    assert "received: [1.0, 1.0, 1.0]" in message and "np.all(r == r[0])" in message
    assert "a group of one output gave NaN" in message


@pytest.mark.parametrize("correct", [
    named("group_normalized_advantages", lambda r: (
        [0.0] * len(r) if len(set(r)) == 1 else
        [(x - statistics.fmean(r)) / statistics.pstdev(r) for x in r])),
    named("group_normalized_advantages", lambda r: np.zeros(len(r)) if np.ptp(r) == 0 else
          (np.asarray(r) - np.mean(r)) / np.sqrt(np.mean((np.asarray(r) - np.mean(r)) ** 2))),
])
def test_group_advantages_written_differently_pass(correct):
    passes(correct)


# -- notebook 05, Exercise 5: the GRPO objective -------------------------------------------


def grpo_student(logp_new, logp_old, logp_ref, advantages, mask, epsilon=0.2, beta=0.04, *,
                 mistake=None):
    """J written with loops over outputs and tokens; ``mistake`` changes one thing."""
    if mistake == "ignore_epsilon":
        epsilon = 0.2
    if mistake == "ignore_beta":
        beta = 0.04
    per_output, token_values = [], []
    for i, adv in enumerate(advantages):
        values = []
        for t in range(len(mask[i])):
            if not mask[i][t] and mistake != "no_mask":
                continue
            base = logp_ref if mistake == "ratio_to_ref" else logp_old
            rho = math.exp(logp_new[i][t] - base[i][t])
            if mistake == "inverted_rho":
                rho = 1.0 / rho
            clipped = min(max(rho, 1 - epsilon), 1 + epsilon)
            term = {"clip_only": clipped * adv, "no_clip": rho * adv,
                    "max": max(rho * adv, clipped * adv)}.get(mistake,
                                                              min(rho * adv, clipped * adv))
            x = math.exp(logp_ref[i][t] - logp_new[i][t])  # pi_ref / pi_theta
            if mistake == "inverted_k3":
                x = 1.0 / x
            penalty = -math.log(x) if mistake == "k1" else x - math.log(x) - 1
            values.append(term + beta * penalty if mistake == "plus" else
                          term - beta * penalty)
        token_values += values
        length = len(mask[i]) if mistake == "divide_by_T" else len(values)
        per_output.append(sum(values) if mistake == "no_length" else sum(values) / length)
    if mistake == "token_mean":
        return sum(token_values) / len(token_values)
    total = sum(per_output) if mistake == "no_group_mean" else sum(per_output) / len(per_output)
    return -total if mistake == "loss" else total


GRPO_MISTAKES = [
    ("inverted_k3", "your k3 ratio is upside down"),
    ("k1", "your penalty is k1 = log(pi_theta / pi_ref), not k3"),
    ("plus", "you add the KL penalty instead of subtracting it"),
    ("no_length", "you divide by G but not by |o_i|"),
    ("no_group_mean", "you sum over the G outputs"),
    ("token_mean", "you average over all real tokens of the group at once"),
    ("divide_by_T", "by the padded length T"),
    ("no_mask", "the padded positions (mask 0) count in your result"),
    ("clip_only", "you clip the ratio but take no min"),
    ("no_clip", "you do not clip the ratio"),
    ("max", "you take the max of rho A and clip(rho) A"),
    ("inverted_rho", "your ratio rho is upside down"),
    ("ratio_to_ref", "your ratio rho compares with pi_ref"),
    ("loss", "you returned the loss -J"),
    ("ignore_epsilon", "ignores its epsilon argument"),
    ("ignore_beta", "ignores its beta argument"),
]


@pytest.mark.parametrize("mistake, phrase", GRPO_MISTAKES)
def test_grpo_mistakes_are_named(mistake, phrase):
    message = failure(named("grpo_token_objective", grpo_student, mistake=mistake))
    assert phrase in first_cause(message)


def test_grpo_missing_length_average_names_the_case_of_unequal_lengths():
    message = failure(named("grpo_token_objective", grpo_student, mistake="no_length"))
    # the one-token outputs of case 1 cannot show it: case 2 is the first to fail
    assert "1. outputs of 3, 2 and 4 real tokens with numbers in the padding" in message
    assert "|o_i|" in message


@named("grpo_token_objective")
def grpo_masked_arrays(logp_new, logp_old, logp_ref, advantages, mask, epsilon, beta):
    hidden = np.asarray(mask) == 0
    new = np.ma.masked_array(logp_new, hidden)
    rho = np.ma.exp(new - np.ma.masked_array(logp_old, hidden))
    adv = np.asarray(advantages)[:, None]
    surrogate = np.ma.minimum(rho * adv, np.ma.clip(rho, 1 - epsilon, 1 + epsilon) * adv)
    log_x = np.ma.masked_array(logp_ref, hidden) - new
    per_token = surrogate - beta * (np.ma.exp(log_x) - log_x - 1)
    return float(per_token.mean(axis=1).mean())


@pytest.mark.parametrize("correct", [grpo_masked_arrays,
                                     named("grpo_token_objective", grpo_student)])
def test_grpo_written_differently_passes(correct):
    passes(correct)


# -- notebook 06, Exercise 1: the VAE's KL -------------------------------------------------


def vae_student(mu, log_var, *, mistake=None):
    mu, lv = np.asarray(mu, dtype=float), np.asarray(log_var, dtype=float)
    var, log_variance = np.exp(lv), lv
    if mistake == "variance":
        var, log_variance = lv, np.log(lv)
    elif mistake == "log_sigma":
        var, log_variance = np.exp(lv) ** 2, 2 * lv
    elif mistake == "sigma":
        var, log_variance = lv * lv, 2 * np.log(np.abs(lv))
    elif mistake == "sigma_for_variance":
        var = np.sqrt(np.exp(lv))
    inner = (0.0 if mistake == "no_one" else 1.0) + log_variance - mu**2 - var
    if mistake == "reverse":
        return 0.5 * np.sum((1 + mu**2) / var - 1 + log_variance, axis=1)
    return {"no_half": lambda: -inner.sum(axis=1),
            "sign": lambda: 0.5 * inner.sum(axis=1),
            "batch_sum": lambda: float(-0.5 * inner.sum()),
            "batch_mean": lambda: float(np.mean(-0.5 * inner.sum(axis=1))),
            "dims_mean": lambda: -0.5 * inner.mean(axis=1),
            "axis0": lambda: -0.5 * inner.sum(axis=0)}.get(
                mistake, lambda: -0.5 * inner.sum(axis=1))()


VAE_MISTAKES = [
    ("variance", "you used log_var as the variance"),
    ("log_sigma", "you read log_var as log(sigma), the log standard deviation"),
    ("sigma", "you used log_var as the standard deviation sigma"),
    ("sigma_for_variance", "you used sigma = exp(log_var / 2) where the formula has sigma^2"),
    ("no_half", "your KL is twice too large"),
    ("sign", "your KL has the wrong sign"),
    ("no_one", "you forgot the 1"),
    ("reverse", "you computed KL(N(0, I) || N(mu, sigma^2)), the prior first"),
    ("batch_sum", "you summed over the whole batch into one number"),
    ("batch_mean", "you averaged the rows' KLs into one number"),
    ("dims_mean", "you averaged over the latent dimensions"),
    ("axis0", "you summed over the batch axis (axis=0)"),
]


@pytest.mark.parametrize("mistake, phrase", VAE_MISTAKES)
def test_vae_kl_mistakes_are_named(mistake, phrase):
    message = failure(named("vae_kl", vae_student, mistake=mistake))
    assert phrase in first_cause(message)


def test_vae_log_of_log_var_explains_the_nan_too():
    message = failure(named("vae_kl", vae_student, mistake="variance"))
    assert "you used log_var as the variance" in message
    assert "received: [inf, nan]" in message  # log of log_var = 0 and of negative ones
    assert "do not take its log again" in message


@pytest.mark.parametrize("correct", [
    named("vae_kl", vae_student),
    named("vae_kl", lambda mu, lv: np.array([
        sum(0.5 * (m * m + math.exp(v) - 1 - v) for m, v in zip(row_mu, row_lv, strict=True))
        for row_mu, row_lv in zip(mu, lv, strict=True)])),
    # entropy and cross-entropy per dimension, as the library-style honest student does
    named("vae_kl", lambda mu, lv: np.sum(
        0.5 * np.log(2 * np.pi) + 0.5 * (np.asarray(mu) ** 2 + np.exp(lv))
        - stats.norm.entropy(scale=np.exp(0.5 * np.asarray(lv))), axis=-1)),
])
def test_vae_kl_written_differently_passes(correct):
    passes(correct)


# -- notebook 06, Exercise 2: the distillation loss ----------------------------------------


def _log_probs(z):
    z = np.asarray(z, dtype=float)
    return z - special.logsumexp(z, axis=-1, keepdims=True)


def distill_student(student, teacher, labels, temperature, alpha, *, mistake=None):
    t = float(temperature)
    z_s, z_t = np.asarray(student, dtype=float), np.asarray(teacher, dtype=float)
    scale = {"multiply": t, "no_soften": 1.0}.get(mistake, 1.0 / t)
    log_p, log_q = _log_probs(z_t * scale), _log_probs(z_s * scale)
    if mistake in ("reverse", "reverse_no_t2"):
        log_p, log_q = log_q, log_p
    soft = np.sum(np.exp(log_p) * (log_p - log_q), axis=1)
    if mistake == "cross_entropy":
        soft = -np.sum(np.exp(log_p) * log_q, axis=1)
    soft *= {"no_t2": 1.0, "reverse_no_t2": 1.0, "t_only": t}.get(mistake, t * t)
    hard_log_q = _log_probs(z_s / t if mistake == "hard_at_t" else z_s)
    hard = -hard_log_q[np.arange(len(labels)), labels]
    if mistake == "hard_sign":
        hard = -hard
    a = 1 - alpha if mistake == "swap_alpha" else alpha
    per_example = a * soft + (1 - a) * hard
    return {"sum": lambda: float(per_example.sum()),
            "per_example": lambda: per_example}.get(mistake,
                                                    lambda: float(per_example.mean()))()


DISTILL_MISTAKES = [
    ("no_t2", "the factor T^2 is missing from your soft term"),
    ("t_only", "your soft term is multiplied by T, not T^2"),
    ("reverse", "your KL is the wrong way round: KL(softmax(z_s/T) || softmax(z_t/T))"),
    ("reverse_no_t2", "your KL is the wrong way round (student first) and the factor T^2"),
    ("cross_entropy", "your soft term is the cross-entropy -sum p_t log q_s, not the KL"),
    ("no_soften", "your soft term does not divide the logits by T"),
    ("multiply", "you multiply the logits by T"),
    ("hard_at_t", "your hard term uses the softened student logits z_s / T"),
    ("swap_alpha", "your weights are swapped"),
    ("hard_sign", "your hard term has the wrong sign"),
    ("sum", "you summed over the batch"),
    ("per_example", "returned one loss per example"),
]


@pytest.mark.parametrize("mistake, phrase", DISTILL_MISTAKES)
def test_distillation_mistakes_are_named(mistake, phrase):
    message = failure(named("distillation_loss", distill_student, mistake=mistake))
    assert phrase in first_cause(message)


@named("distillation_loss")
def distill_naive_softmax(student, teacher, labels, temperature, alpha):
    def softmax(z):
        e = np.exp(np.asarray(z, dtype=float))
        return e / e.sum(axis=1, keepdims=True)

    t = temperature
    p, q = softmax(np.asarray(teacher) / t), softmax(np.asarray(student) / t)
    soft = np.sum(p * np.log(p / q), axis=1)
    hard = -np.log(softmax(student)[np.arange(len(labels)), labels])
    return float(np.mean(alpha * t * t * soft + (1 - alpha) * hard))


@named("distillation_loss")
def distill_clipped_log(student, teacher, labels, temperature, alpha):
    def softmax(z):
        e = np.exp(z - np.max(z, axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    t = temperature
    p = softmax(np.asarray(teacher) / t)
    q = softmax(np.asarray(student) / t)
    soft = np.sum(p * (np.log(p + 1e-12) - np.log(q + 1e-12)), axis=1)
    hard = -np.log(softmax(np.asarray(student))[np.arange(len(labels)), labels] + 1e-12)
    return float(np.mean(alpha * t * t * soft + (1 - alpha) * hard))


def test_distillation_overflow_is_explained():
    message = failure(distill_naive_softmax)
    assert "1 of 4 self-check cases" in message
    assert "1. logits in the hundreds" in message  # the only case that fails
    assert "large logits gave NaN" in message and "logsumexp" in message


def test_distillation_clipped_probabilities_are_explained():
    message = failure(distill_clipped_log)
    assert "1 of 4 self-check cases" in message
    assert "your loss is wrong only for large logits" in message
    assert "do not clip probabilities" in message


@pytest.mark.parametrize("correct", [named("distillation_loss", distill_student)])
def test_distillation_written_differently_passes(correct):
    passes(correct)


# -- notebook 06, Exercise 3: the soft-target gradient -------------------------------------


def gradient_student(student, teacher, temperature, *, mistake=None):
    t = float(temperature)
    z_s, z_t = np.asarray(student, dtype=float), np.asarray(teacher, dtype=float)
    if mistake != "no_soften":
        z_s, z_t = z_s / t, z_t / t
    axis = 0 if mistake == "columns" else 1
    q_s = np.exp(z_s) / np.exp(z_s).sum(axis=axis, keepdims=True)
    p_t = np.exp(z_t) / np.exp(z_t).sum(axis=axis, keepdims=True)
    factor = {"over_t": 1 / t, "t_squared": t * t, "no_factor": 1.0}.get(mistake, t)
    gap = p_t - q_s if mistake == "sign" else q_s - p_t
    return factor * gap


GRADIENT_MISTAKES = [
    ("sign", "your gradient has the wrong sign"),
    ("over_t", "your gradient is (q_s - p_t) / T"),
    ("t_squared", "your gradient is T^2 (q_s - p_t)"),
    ("no_factor", "your gradient is q_s - p_t without the factor T"),
    ("no_soften", "your softmaxes are not softened"),
    ("columns", "your softmax normalises down the columns"),
]


@pytest.mark.parametrize("mistake, phrase", GRADIENT_MISTAKES)
def test_soft_target_gradient_mistakes_are_named(mistake, phrase):
    message = failure(named("soft_target_gradient", gradient_student, mistake=mistake))
    assert phrase in first_cause(message)


def _softmax_row(row, t):
    weights = [math.exp((v - max(row)) / t) for v in row]
    return [w / math.fsum(weights) for w in weights]


@named("soft_target_gradient")
def gradient_lists(student_logits, teacher_logits, temperature):
    """Plain Python lists, row by row: T (q_s - p_t)."""
    rows = []
    for z_s, z_t in zip(student_logits, teacher_logits, strict=True):
        q_s, p_t = _softmax_row(z_s, temperature), _softmax_row(z_t, temperature)
        rows.append([temperature * (q - p) for q, p in zip(q_s, p_t, strict=True)])
    return rows


@pytest.mark.parametrize("correct", [
    # a softmax without the max shift: the exercise does not ask for large logits
    named("soft_target_gradient", gradient_student), gradient_lists])
def test_soft_target_gradient_written_differently_passes(correct):
    passes(correct)


# -- notebook 06, Exercise 4: the ELBO -----------------------------------------------------


def elbo_student(m, s, x, noise_sd, *, mistake=None):
    var_q = s if mistake == "s_is_variance" else s * s
    var_x = noise_sd if mistake == "noise_is_variance" else noise_sd * noise_sd
    spread = 0.0 if mistake == "no_spread" else var_q
    terms = [-0.5 * math.log(2 * math.pi * var_x) - ((xi - m) ** 2 + spread) / (2 * var_x)
             for xi in x]
    log_lik = sum(terms) / len(terms) if mistake == "mean_lik" else sum(terms)
    if mistake == "reverse_kl":
        return log_lik - 0.5 * (math.log(var_q) + (1 + m * m) / var_q - 1)
    log_prior = 0.0 if mistake == "no_prior" else (-0.5 * math.log(2 * math.pi)
                                                   - (m * m + spread) / 2)
    entropy = 0.5 * math.log(2 * math.pi * var_q) + (0.0 if mistake == "no_e" else 0.5)
    entropy *= {"no_entropy": 0.0, "minus_entropy": -1.0}.get(mistake, 1.0)
    total = log_lik + log_prior + entropy
    return -total if mistake == "negative" else total


ELBO_MISTAKES = [
    ("negative", "your result is -ELBO"),
    ("s_is_variance", "you used s as the variance of q"),
    ("noise_is_variance", "you used noise_sd as the variance of the observations"),
    ("no_entropy", "your ELBO has no entropy term"),
    ("minus_entropy", "you subtract the entropy of q"),
    ("no_e", "your entropy misses the e"),
    ("no_spread", "you left out the + s^2 of the expectations"),
    ("mean_lik", "you averaged the expected log-likelihood over the observations"),
    ("no_prior", "your ELBO has no prior term"),
    ("reverse_kl", "you subtracted KL(prior || q)"),
]


@pytest.mark.parametrize("mistake, phrase", ELBO_MISTAKES)
def test_elbo_mistakes_are_named(mistake, phrase):
    message = failure(named("elbo_gaussian", elbo_student, mistake=mistake))
    assert phrase in first_cause(message)


@named("elbo_gaussian")
def elbo_minus_kl(m, s, x, noise_sd):
    """E_q[log p(x | z)] - KL(q || N(0, 1)): the other textbook form of the same bound."""
    x = np.atleast_1d(x)
    log_lik = np.sum(stats.norm.logpdf(x, m, noise_sd) - s**2 / (2 * noise_sd**2))
    return log_lik - (-np.log(s) + (s**2 + m**2 - 1) / 2)


@pytest.mark.parametrize("correct", [named("elbo_gaussian", elbo_student), elbo_minus_kl])
def test_elbo_written_differently_passes(correct):
    passes(correct)


# -- notebook 06, Exercise 5: coding cost in bits ------------------------------------------


def coding_student(p, q, *, mistake=None):
    if mistake == "swapped":
        p, q = q, p
    log = {"nats": math.log, "log10": math.log10}.get(mistake, math.log2)
    total = 0.0
    for p_i, q_i in zip(p, q, strict=True):
        if mistake == "no_weights":
            total -= log(q_i) if q_i > 0 else -math.inf
            continue
        if p_i == 0:
            continue
        if q_i == 0:
            if mistake == "skip_zero_q":
                continue
            return -math.inf if mistake == "negative" else math.inf
        length = math.ceil(-log(q_i)) if mistake == "whole_bits" else -log(q_i)
        if mistake == "kl":
            length -= -log(p_i)
        if mistake == "entropy":
            length = -log(p_i)
        total += p_i * length
    return -total if mistake == "negative" else total


CODING_MISTAKES = [
    ("nats", "your result is in nats"),
    ("log10", "your result uses log base 10"),
    ("swapped", "your arguments are swapped"),
    ("kl", "you computed KL(p || q) in bits"),
    ("entropy", "you computed the entropy H(p)"),
    ("negative", "your cost is negative"),
    ("no_weights", "you forgot the weights p_i"),
    ("whole_bits", "you rounded the code lengths up to whole bits"),
]


@pytest.mark.parametrize("mistake, phrase", CODING_MISTAKES)
def test_coding_cost_mistakes_are_named(mistake, phrase):
    message = failure(named("coding_cost_bits", coding_student, mistake=mistake))
    assert phrase in first_cause(message)


def test_coding_cost_skipping_a_missing_code_word():
    message = failure(named("coding_cost_bits", coding_student, mistake="skip_zero_q"))
    assert "1 of 3 self-check cases" in message
    assert "you skipped the symbols with q_i = 0, but this one occurs" in message
    assert "expected: inf" in message and "received: 0.5" in message


def test_coding_cost_zero_times_log_zero_and_clipped_q():
    @named("coding_cost_bits")
    def naive(p, q):
        return float(-np.sum(np.asarray(p) * np.log2(q)))

    message = failure(naive)
    assert "1 of 3 self-check cases" in message
    assert "0 * log2(0) is 0 * -inf = nan" in message

    @named("coding_cost_bits")
    def clipped(p, q):
        p, q = np.asarray(p), np.clip(q, 1e-12, None)
        return float(-np.sum(p[p > 0] * np.log2(q[p > 0])))

    message = failure(clipped)
    assert "q_i = 0 < p_i must give math.inf" in message and "clipped" in message

    @named("coding_cost_bits")
    def any_zero(p, q):
        return math.inf if 0.0 in list(q) else coding_student(p, q)

    assert "that symbol has p_i = 0 and never occurs" in failure(any_zero)


@pytest.mark.parametrize("correct", [
    named("coding_cost_bits", coding_student),
    named("coding_cost_bits", lambda p, q: -np.sum(special.xlogy(p, q)) / np.log(2)),
])
def test_coding_cost_written_differently_passes(correct):
    passes(correct)


# -- the honest class: its answers pass the checks -----------------------------------------


def _honest_functions(style: str, assignment: str) -> dict:
    namespace = {"np": np, "math": math, "special": special, "stats": stats, "scipy": scipy}
    for source in load_answers(style, assignment).values():
        exec(compile(source, f"<{style}/{assignment}>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("assignment, names", [("05_rl", NOTEBOOK_05),
                                               ("06_applications", NOTEBOOK_06)])
def test_the_honest_class_passes_every_check(style, assignment, names):
    functions = _honest_functions(style, assignment)
    for name in names:
        passes(functions[name])


# -- what a check never shows, and how it runs for the grader ------------------------------


def _test_cells(assignment: str) -> list[str]:
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


def _innermost_lists(text: str) -> set[tuple[float, ...]]:
    """Every list of numbers written in ``text`` (innermost lists of nested ones)."""
    found = set()
    for literal in re.findall(r"\[[-+0-9.eE, \[\]/]+\]", text):
        try:
            value = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            continue
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, list) and item and all(isinstance(v, int | float) for v in item):
                found.add(tuple(round(float(v), 12) for v in item))
            elif isinstance(item, list):
                stack.extend(item)
    return found


def _rows(value) -> set[tuple[float, ...]]:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return set()
    rows = arr.reshape(-1, arr.shape[-1])
    return {tuple(round(float(v), 12) for v in row) for row in rows}


@pytest.mark.parametrize("assignment, names", [("05_rl", NOTEBOOK_05),
                                               ("06_applications", NOTEBOOK_06)])
def test_no_case_uses_a_graded_tests_input(assignment, names):
    graded = set().union(*(_innermost_lists(source) for source in _test_cells(assignment)))
    assert {(0.98, 0.01, 0.01), (-800.0, 1200.0, 10.0)} & graded  # the parser finds them
    for name in names:
        for case in EXERCISES[name].cases:
            for arg in case.args:
                # rows of one repeated number (a mask of ones, zero advantages) are no one's
                rows = {row for row in _rows(arg) if len(set(row)) > 1}
                # the tests write log-probabilities as np.log([...]): compare those too
                with np.errstate(all="ignore"):
                    probs = {tuple(round(float(v), 12) for v in np.exp(row)) for row in rows}
                assert not (rows | probs) & graded, (name, case.name)


def _hidden_secrets(assignment: str) -> list[str]:
    secrets = []
    for source in _test_cells(assignment):
        for block in re.findall(r"BEGIN HIDDEN TESTS(.*?)END HIDDEN TESTS", source, re.S):
            secrets += re.findall(r"\[[-0-9., ]+\]", block)
            secrets += [f"{n}" for n in re.findall(r"default_rng\((\d+)\)", block)]
    return secrets


@pytest.mark.parametrize("name", NOTEBOOK_05 + NOTEBOOK_06)
def test_messages_never_show_hidden_test_inputs(name):
    secrets = _hidden_secrets(ASSIGNMENT_OF[name])
    assert secrets
    for _, variant in EXERCISES[name].variants:
        message = failure(named(name, variant))
        for secret in secrets:
            # a seed is a whole number, not digits inside a float that happen to match
            assert not re.search(rf"(?<![\d.]){re.escape(secret)}(?![\d.])", message), (
                name, secret)
        assert "def " not in message and "rl." not in message


def test_a_stub_is_not_implemented_yet():
    @named("grpo_token_objective")
    def stub(*args):
        raise NotImplementedError()

    message = failure(stub)
    assert "grpo_token_objective is not implemented yet" in message


def test_diagnose_names_the_mistake_quietly(capsys):
    verdict = diagnose(named("ppo_kl_penalty", ppo_student, mistake="reverse"), "05_rl")
    assert verdict is not None and not verdict
    assert "your KL is in the wrong direction" in verdict.message
    verdict = diagnose(named("distillation_loss", distill_student, mistake="no_t2"),
                       "06_applications")
    assert "the factor T^2 is missing" in verdict.message
    assert diagnose(named("vae_kl", vae_student), "06_applications")
    assert capsys.readouterr().out == ""


def test_through_the_grader_proxy():
    from test_selfcheck import FakeRemote

    grpo = _honest_functions("loops_math", "05_rl")["grpo_token_objective"]
    assert check(FakeRemote(grpo, "grpo_token_objective"))  # integer masks travel as arrays
    coding = _honest_functions("loops_math", "06_applications")["coding_cost_bits"]
    assert check(FakeRemote(coding, "coding_cost_bits"))  # math.inf comes back
    wrong = FakeRemote(lambda *a: adapt_student(*a, mistake="swapped_factors"), "adapt_beta")
    assert "doubles beta when the KL is too small" in failure(wrong)


def _check_calls(assignment: str) -> dict[str, dict]:
    """function -> keyword arguments of every check(...) call in the notebook's cells."""
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    calls = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or "kl_helpers.selfcheck import check" not in cell.source:
            continue
        assert "nbgrader" not in cell.metadata, "a self-check cell is not graded"
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check":
                calls[node.args[0].id] = {k.arg: ast.literal_eval(k.value)
                                          for k in node.keywords}
    return calls


@pytest.mark.parametrize("assignment, names", [("05_rl", NOTEBOOK_05),
                                               ("06_applications", NOTEBOOK_06)])
def test_the_notebook_checks_every_graded_function_as_registered(assignment, names):
    """A check cell for each graded function, with the options the grader's diagnosis uses."""
    calls = _check_calls(assignment)
    assert set(calls) == set(names)
    for name in names:
        assert calls[name] == GRADED_CHECKS[(assignment, name)]


@pytest.mark.parametrize("assignment", ["05_rl", "06_applications", "07_quiz"])
def test_every_exercise_and_question_opens_with_a_folded_hint(assignment):
    """The cell right after an exercise's (or a quiz question's) text is a folded hint whose
    markdown renders (a blank line after the summary); written parts may have one more."""
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    sections = 0
    for cell, following in zip(nb.cells, nb.cells[1:], strict=False):
        if cell.cell_type == "markdown" and re.match(r"### (Exercise|Question) \d", cell.source):
            sections += 1
            title = cell.source.splitlines()[0]
            assert following.cell_type == "markdown", title
            assert following.source.startswith("<details><summary>Hint</summary>\n\n"), title
            assert following.source.endswith("\n\n</details>"), title
            assert "nbgrader" not in following.metadata, "a hint is not graded"
    assert sections == {"05_rl": 6, "06_applications": 5, "07_quiz": 18}[assignment]
