"""KL divergence in reinforcement learning: PPO, TRPO, GRPO, sample estimators and bandits.

Reference implementations for assignment 05. Every objective here is something to
**maximise** (PPO's ``L^CLIP`` and ``L^KLPEN``, GRPO's ``J``); `grpo_loss` is the one
loss, ``-J``, for code that minimises. Results are in nats.

Which KL each piece uses (the direction matters and differs between methods):

* PPO penalty (Schulman et al. 2017, arXiv:1707.06347, Eq. 8) and TRPO's trust region
  (Schulman et al. 2015, arXiv:1502.05477): ``KL[pi_old(.|s), pi_theta(.|s)]``, old policy
  first, averaged over states.
* GRPO (Shao et al. 2024, DeepSeekMath, arXiv:2402.03300, Eq. 3-4):
  ``D_KL[pi_theta || pi_ref]``, estimated per sampled token by the k3 estimator
  ``pi_ref/pi_theta - log(pi_ref/pi_theta) - 1``.
* Sample estimators (J. Schulman, "Approximating KL Divergence", 2020): for samples
  ``x ~ q`` and ``log r = log p(x) - log q(x)``, k1, k2 and k3 all estimate ``KL(q || p)``,
  the divergence with the *sampling distribution first*.

Two small problems: a five-armed bandit regularised towards a reference policy
(`train_bandit_policy`, exact gradients), and a contextual bandit with 0/1 rewards on which
`ppo_kl_penalty_training` runs PPO with the adaptive KL penalty from given random numbers
(`contextual_bandit_sample`, `state_mean_advantages`, `contextual_bandit_return`).

Every public function validates its input and raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import numpy as np

from ._validation import (
    check_shape,
    first_offender,
    float_array,
    index_array,
    integer_at_least,
    nonnegative_scalar,
    one_dimensional,
    positive_array,
    positive_scalar,
    real_scalar,
    reject_where,
    same_shape,
    unit_fraction,
)
from .divergences import kl_divergence, log_softmax, softmax, validate_distribution

__all__ = [
    "k1_estimator",
    "k2_estimator",
    "k3_estimator",
    "gaussian_estimator_moments",
    "estimator_logit_gradients",
    "kl_logit_gradient",
    "ppo_clip_objective",
    "ppo_kl_penalty_objective",
    "ppo_kl_penalty_from_tables",
    "adaptive_kl_beta",
    "trpo_backtracking_step",
    "group_advantages",
    "grpo_objective",
    "grpo_loss",
    "bandit_objective",
    "bandit_gradient",
    "bandit_optimal_policy",
    "train_bandit_policy",
    "contextual_bandit_sample",
    "state_mean_advantages",
    "contextual_bandit_return",
    "ppo_kl_penalty_training",
]

# Log-probabilities computed in floating point can exceed 0 by rounding; more than this is
# a bug in the caller (a probability above 1, or logits passed instead of log-probabilities)
_LOGPROB_ATOL = 1e-9


# ---------------------------------------------------------------------------------------
# Log-probabilities
# ---------------------------------------------------------------------------------------


def _log_probs(x, name: str) -> np.ndarray:
    arr = float_array(x, name)
    too_big = arr > _LOGPROB_ATOL
    if too_big.any():
        location, value = first_offender(arr, too_big)
        raise ValueError(
            f"{name} holds log-probabilities, which must be <= 0, got {value!r}{location}; "
            "pass log pi(token), not a probability or a logit")
    return np.minimum(arr, 0.0)


# ---------------------------------------------------------------------------------------
# Schulman's sample estimators of KL(q || p)
# ---------------------------------------------------------------------------------------


def k1_estimator(log_ratio) -> np.ndarray:
    """Per-sample k1 estimate ``-log r`` of ``KL(q || p)``, for samples ``x ~ q``.

    With ``r = p(x) / q(x)``, ``E_q[-log r] = KL(q || p)`` exactly: k1 is **unbiased**,
    but it has a high variance and single values are negative whenever ``p(x) > q(x)``.

    Args:
        log_ratio: array-like of any shape, ``log r = log p(x) - log q(x)`` for samples
            ``x`` drawn from ``q`` (the distribution the KL is measured *from*).

    Returns:
        float64 array of the same shape: one estimate per sample (average them).

    Raises:
        ValueError: naming ``log_ratio`` if it is non-numeric, empty, NaN or infinite.
    """
    return 0.0 - float_array(log_ratio, "log_ratio")


def k2_estimator(log_ratio) -> np.ndarray:
    """Per-sample k2 estimate ``(log r)^2 / 2`` of ``KL(q || p)``, for samples ``x ~ q``.

    Always >= 0 with low variance, but **biased**: its mean is an f-divergence that agrees
    with ``KL(q || p)`` only to second order when ``p`` is close to ``q``.

    Args:
        log_ratio: array-like of any shape, ``log p(x) - log q(x)`` for samples ``x ~ q``.

    Returns:
        float64 array of the same shape, >= 0.

    Raises:
        ValueError: as `k1_estimator`.
    """
    return 0.5 * float_array(log_ratio, "log_ratio") ** 2


def k3_estimator(log_ratio) -> np.ndarray:
    """Per-sample k3 estimate ``(r - 1) - log r`` of ``KL(q || p)``, for samples ``x ~ q``.

    **Unbiased** (``E_q[r - 1] = 0``, so its mean is k1's) and **always >= 0**
    (``log r <= r - 1``), with a much lower variance than k1 when ``p`` is close to ``q``.
    Computed as ``expm1(log r) - log r`` to keep full accuracy when ``r`` is near 1.
    GRPO's per-token penalty ``pi_ref/pi_theta - log(pi_ref/pi_theta) - 1`` is k3 with
    ``q = pi_theta`` (tokens are sampled from the policy) and ``p = pi_ref``: it estimates
    ``KL(pi_theta || pi_ref)``, so ``log_ratio = log pi_ref - log pi_theta``.

    Args:
        log_ratio: array-like of any shape, ``log p(x) - log q(x)`` for samples ``x ~ q``.

    Returns:
        float64 array of the same shape, >= 0.

    Raises:
        ValueError: as `k1_estimator`, and if ``exp(log_ratio)`` overflows (log r > 709).
    """
    lr = float_array(log_ratio, "log_ratio")
    if np.any(lr > 709.0):
        raise ValueError("log_ratio has an entry above 709: r = exp(log_ratio) overflows")
    # log r <= r - 1 makes every value >= 0; the maximum removes -1e-17 rounding leftovers
    return np.maximum(np.expm1(lr) - lr, 0.0)


def _expm1_minus_x(x: float) -> float:
    """``e^x - 1 - x`` for ``x >= 0``, accurate also where the two terms nearly cancel."""
    if x < 1e-2:
        # the Taylor series x^2/2! + x^3/3! + ...: its 8th term is below 1e-16 relative
        term, total = x * x / 2.0, 0.0
        for n in range(3, 11):
            total += term
            term *= x / n
        return total + term
    return float(np.expm1(x) - x)


def gaussian_estimator_moments(mu: float) -> dict[str, tuple[float, float]]:
    """Exact mean and standard deviation of one k1, k2 and k3 sample in Schulman's example.

    Samples ``x ~ q = N(0, 1)``, target ``p = N(mu, 1)``, so ``log r = mu x - mu^2/2`` is
    Gaussian, ``N(-mu^2/2, mu^2)``, and ``KL(q || p) = mu^2 / 2``. With ``m = mu^2``:

    * k1 ``= -log r``: mean ``m/2``, variance ``m``;
    * k2 ``= (log r)^2 / 2``: mean ``m/2 + m^2/8`` (biased), variance ``(2 m^2 + m^3) / 4``
      (for ``a ~ N(c, s^2)``, ``Var(a^2) = 2 s^4 + 4 c^2 s^2``);
    * k3 ``= r - 1 - log r``: mean ``m/2``, variance ``e^m - 1 - m``, because ``r`` is
      log-normal with ``E[r] = 1``, ``Var(r) = e^m - 1`` and ``Cov(r, log r) = m``.

    Relative to the KL, the standard deviations are ``2/mu``, ``sqrt(2 + mu^2)`` and
    ``sqrt(e^m - 1 - m) / (m/2)`` (which tends to ``sqrt(2)`` as ``mu -> 0``).

    Args:
        mu: real, the mean of ``p`` (sign irrelevant).

    Returns:
        dict ``{"k1": (mean, std), "k2": (mean, std), "k3": (mean, std)}`` in nats.

    Raises:
        ValueError: naming ``mu`` if it is not a finite real number, or if ``mu^2 > 700``
            (k3's variance overflows a float64).
    """
    m = real_scalar(mu, "mu") ** 2
    if m > 700.0:
        raise ValueError(f"mu = {mu!r} is too large: k3's variance e^(mu^2) overflows")
    return {
        "k1": (m / 2, float(np.sqrt(m))),
        "k2": (m / 2 + m * m / 8, float(np.sqrt(2 * m * m + m**3)) / 2),
        "k3": (m / 2, float(np.sqrt(_expm1_minus_x(m)))),
    }


def _softmax_policy(logits, ref_probs):
    log_pi = one_dimensional(log_softmax(float_array(logits, "logits")), "logits", "one per action")
    ref = validate_distribution(ref_probs, "ref_probs")
    same_shape({"ref_probs": ref, "logits": log_pi})
    if np.any(ref == 0):
        raise ValueError("ref_probs has a zero: the log-ratio to the reference is undefined")
    return log_pi, np.log(ref)


def estimator_logit_gradients(logits, ref_probs, actions) -> dict[str, np.ndarray]:
    """Per-sample gradients of the k1, k2, k3 penalties with respect to a softmax policy's logits.

    This is what automatic differentiation of a per-token KL penalty gives (GRPO's loss
    differentiates k3): the sampled action ``a`` is held fixed, ``pi = softmax(logits)``
    moves. With ``r = pi_ref(a) / pi(a)`` and the score ``g = grad log pi(a) = e_a - pi``:

    * k1 ``= -log r``: ``grad = g``; its mean over ``a ~ pi`` is **0**;
    * k2 ``= (log r)^2 / 2``: ``grad = log(pi(a) / pi_ref(a)) g``; mean
      ``grad KL(pi || pi_ref)``;
    * k3 ``= r - 1 - log r``: ``grad = (1 - r) g``; mean ``grad KL(pi_ref || pi)``, the
      **other** direction (Tang & Munos 2025, arXiv:2506.09477).

    So an unbiased estimate of a KL's value is not an unbiased estimate of its gradient:
    only k2's gradient points along ``grad KL(pi || pi_ref)``, whose value k1 and k3 estimate.

    Args:
        logits: array-like of shape ``(k,)``, the policy's logits.
        ref_probs: distribution of shape ``(k,)`` with no zero, the reference policy.
        actions: array-like of ``n`` integers in ``[0, k)``, sampled actions.

    Returns:
        dict ``{"k1", "k2", "k3"}`` of float64 arrays of shape ``(n, k)``: one gradient
        per sample (average them over samples drawn from ``pi``).

    Raises:
        ValueError: naming the argument for invalid logits, distributions or actions.
    """
    log_pi, log_ref = _softmax_policy(logits, ref_probs)
    a = one_dimensional(index_array(actions, "actions", log_pi.size), "actions",
                        "one sampled action per entry")
    score = np.eye(log_pi.size)[a] - np.exp(log_pi)  # grad log pi(a), one row per sample
    log_r = (log_ref - log_pi)[a][:, None]
    return {"k1": score, "k2": -log_r * score, "k3": -np.expm1(log_r) * score}


def kl_logit_gradient(logits, ref_probs, *, direction: str) -> np.ndarray:
    """Exact gradient of a KL between ``pi = softmax(logits)`` and ``pi_ref``, w.r.t. the logits.

    * ``direction="policy_first"``: ``grad KL(pi || pi_ref) = pi * (log(pi/pi_ref) - KL)``;
    * ``direction="reference_first"``: ``grad KL(pi_ref || pi) = pi - pi_ref``.

    Args:
        logits: array-like of shape ``(k,)``.
        ref_probs: distribution of shape ``(k,)`` with no zero.
        direction: ``"policy_first"`` or ``"reference_first"``.

    Returns:
        float64 array of shape ``(k,)``, in nats per unit of logit.

    Raises:
        ValueError: naming the argument for invalid input or an unknown direction.
    """
    log_pi, log_ref = _softmax_policy(logits, ref_probs)
    pi = np.exp(log_pi)
    if direction == "policy_first":
        log_ratio = log_pi - log_ref
        return pi * (log_ratio - pi @ log_ratio)
    if direction == "reference_first":
        return pi - np.exp(log_ref)
    raise ValueError(f"direction must be 'policy_first' or 'reference_first', got {direction!r}")


# ---------------------------------------------------------------------------------------
# PPO
# ---------------------------------------------------------------------------------------


def ppo_clip_objective(ratio, advantages, *, epsilon: float = 0.2) -> float:
    """PPO's clipped surrogate ``L^CLIP = mean[min(r A, clip(r, 1 - eps, 1 + eps) A)]``.

    Schulman et al. 2017 (arXiv:1707.06347), Eq. 7. There is **no KL term** in it: the
    clip removes the incentive to move ``r`` outside ``[1 - eps, 1 + eps]``. To maximise.

    Args:
        ratio: array-like of shape ``(n,)`` (any shape), ``r = pi_theta(a|s) / pi_old(a|s)``
            for each sampled state-action pair; every entry > 0.
        advantages: array-like of the same shape, advantage estimates ``A``.
        epsilon: clip range, ``0 < epsilon < 1`` (0.2 in the paper).

    Returns:
        float: the sample mean of the clipped objective.

    Raises:
        ValueError: naming the argument for non-numeric, empty, NaN or inf input, a ratio
            <= 0, an epsilon outside (0, 1), or shapes that differ.
    """
    eps = unit_fraction(epsilon, "epsilon")
    r = positive_array(ratio, "ratio", what="a ratio of probabilities")
    adv = float_array(advantages, "advantages")
    same_shape({"ratio": r, "advantages": adv})
    clipped = np.clip(r, 1.0 - eps, 1.0 + eps)
    return float(np.mean(np.minimum(r * adv, clipped * adv)))


def ppo_kl_penalty_objective(ratio, advantages, kl, beta: float) -> float:
    """PPO's KL-penalised surrogate ``L^KLPEN = mean[r A] - beta * mean[KL_s]``.

    Schulman et al. 2017, Eq. 8: ``E_t[r_t A_t - beta KL[pi_old(.|s_t), pi_theta(.|s_t)]]``,
    with the **unclipped** ratio and the KL with the **old** policy first, in each visited
    state. To maximise.

    Args:
        ratio: array-like of shape ``(n,)``, ``pi_theta(a_t|s_t) / pi_old(a_t|s_t)``, > 0.
        advantages: array-like of shape ``(n,)``, the advantage estimates.
        kl: array-like of shape ``(n,)``, ``KL[pi_old(.|s_t), pi_theta(.|s_t)] >= 0`` in
            nats for the state of each sample.
        beta: penalty coefficient, >= 0.

    Returns:
        float: the sample mean of ``r A - beta KL``.

    Raises:
        ValueError: naming the argument for invalid arrays, a ratio <= 0, a negative KL,
            a negative or non-finite beta, or shapes that differ.
    """
    b = nonnegative_scalar(beta, "beta")
    r = positive_array(ratio, "ratio", what="a ratio of probabilities")
    adv = float_array(advantages, "advantages")
    kl_arr = float_array(kl, "kl")
    reject_where(kl_arr, "kl", kl_arr < 0, ">= 0 (a KL divergence)")
    same_shape({"ratio": r, "advantages": adv, "kl": kl_arr})
    return float(np.mean(r * adv - b * kl_arr))


def ppo_kl_penalty_from_tables(pi_old, pi_new, actions, advantages, beta: float) -> float:
    """``L^KLPEN`` (PPO Eq. 8) from the two policies' probability tables.

    For sample ``t`` in state ``t`` (one row per sample) with action ``a_t``:
    ``r_t = pi_new[t, a_t] / pi_old[t, a_t]`` and ``KL_t = KL(pi_old[t] || pi_new[t])``;
    returns ``mean_t[r_t A_t - beta KL_t]`` (see `ppo_kl_penalty_objective`).

    Args:
        pi_old: array-like of shape ``(n, k)``, the old policy's action distribution in
            the state of each sample (rows sum to 1).
        pi_new: array-like of shape ``(n, k)``, the new policy's distributions.
        actions: integer array-like of shape ``(n,)``, each in ``0 .. k-1``; the old
            policy must give the taken action a positive probability.
        advantages: array-like of shape ``(n,)``.
        beta: penalty coefficient, >= 0.

    Returns:
        float: ``L^KLPEN`` (+inf never occurs for valid input; ``-inf`` if ``pi_new`` puts
        0 on an action ``pi_old`` allows, which makes the KL infinite).

    Raises:
        ValueError: naming the argument for tables that are not 2-D batches of
            distributions, shapes that disagree, actions that are not integers in range,
            an action with ``pi_old`` probability 0, or an invalid beta.
    """
    b = nonnegative_scalar(beta, "beta")
    old = validate_distribution(pi_old, "pi_old")
    new = validate_distribution(pi_new, "pi_new")
    if old.ndim != 2:
        raise ValueError(f"pi_old must be 2-D (n samples, k actions), got shape {old.shape}")
    same_shape({"pi_new": new, "pi_old": old})
    idx = index_array(actions, "actions", old.shape[1], shape=(old.shape[0],))
    adv = float_array(advantages, "advantages")
    check_shape(adv, "advantages", idx.shape)
    rows = np.arange(old.shape[0])
    if np.any(old[rows, idx] == 0):
        raise ValueError("pi_old gives probability 0 to a taken action: the ratio is undefined")
    ratio = new[rows, idx] / old[rows, idx]
    kl = kl_divergence(old, new, axis=-1)  # old policy first, as in Eq. 8
    return float(np.mean(ratio * adv - b * kl))


def adaptive_kl_beta(beta: float, kl: float, kl_target: float) -> float:
    """PPO's adaptive penalty coefficient (Schulman et al. 2017, section 4).

    After an update with mean KL ``d = E[KL[pi_old, pi_theta]]``:
    if ``d < d_targ / 1.5`` then ``beta / 2``; if ``d > 1.5 d_targ`` then ``2 beta``;
    otherwise ``beta`` unchanged (the boundaries themselves leave it unchanged).

    Args:
        beta: current coefficient, > 0.
        kl: measured mean KL ``d`` of the last update, >= 0 (nats).
        kl_target: target ``d_targ`` > 0 (0.01 in the paper's best setting).

    Returns:
        float: the coefficient for the next update.

    Raises:
        ValueError: naming the argument if beta or kl_target is not a finite number > 0,
            or kl is not a finite number >= 0.
    """
    b = positive_scalar(beta, "beta")
    d = nonnegative_scalar(kl, "kl")
    target = positive_scalar(kl_target, "kl_target")
    if d < target / 1.5:
        return b / 2.0
    if d > 1.5 * target:
        return 2.0 * b
    return b


# ---------------------------------------------------------------------------------------
# TRPO
# ---------------------------------------------------------------------------------------


def trpo_backtracking_step(
    logits_old,
    full_step,
    advantages,
    *,
    max_kl: float = 0.01,
    shrink: float = 0.5,
    max_backtracks: int = 10,
) -> dict:
    """One TRPO-style line search on a tabular softmax policy with exact expectations.

    Surrogate (Schulman et al. 2015, arXiv:1502.05477, Eq. 14 with the expectation over
    actions written out): ``L(theta) = mean_s sum_a pi_theta(a|s) A(s, a)``; constraint:
    ``mean_s KL(pi_old(.|s) || pi_theta(.|s)) <= max_kl``. Tries the logits
    ``logits_old + shrink^j * full_step`` for ``j = 0, 1, ..., max_backtracks`` and accepts
    the first that satisfies the constraint **and** improves the surrogate.

    Args:
        logits_old: array-like of shape ``(n_states, k)`` (or ``(k,)`` for one state).
        full_step: array-like of the same shape, the proposed change of the logits.
        advantages: array-like of the same shape, ``A(s, a)``.
        max_kl: the trust-region radius ``delta`` > 0, in nats.
        shrink: backtracking factor, ``0 < shrink < 1``.
        max_backtracks: number of shrinks to try, an integer >= 0.

    Returns:
        dict with ``"accepted"`` (bool), ``"step_fraction"`` (``shrink^j``, or 0.0 if
        nothing was accepted), ``"n_backtracks"`` (``j``), ``"logits"`` (the new logits,
        the old ones if nothing was accepted), ``"kl"`` and ``"surrogate_gain"`` (of the
        returned logits), and ``"tried"``: a list of ``(fraction, kl, gain)`` per attempt.

    Raises:
        ValueError: naming the argument for invalid arrays or shapes, or an invalid
            max_kl, shrink or max_backtracks.
    """
    delta = positive_scalar(max_kl, "max_kl")
    factor = unit_fraction(shrink, "shrink")
    max_backtracks = integer_at_least(max_backtracks, "max_backtracks", 0)
    z_old = float_array(logits_old, "logits_old")
    step = float_array(full_step, "full_step")
    adv = float_array(advantages, "advantages")
    same_shape({"logits_old": z_old, "full_step": step, "advantages": adv})
    if z_old.ndim not in (1, 2):
        raise ValueError(f"logits_old must be 1-D or 2-D, got shape {z_old.shape}")
    z_old, step, adv = (np.atleast_2d(a) for a in (z_old, step, adv))
    log_old = log_softmax(z_old, axis=-1)
    pi_old = np.exp(log_old)
    base = float(np.mean(np.sum(pi_old * adv, axis=-1)))
    tried = []
    for j in range(max_backtracks + 1):
        fraction = factor**j
        z_new = z_old + fraction * step
        log_new = log_softmax(z_new, axis=-1)
        kl = float(np.mean(np.sum(pi_old * (log_old - log_new), axis=-1)))
        gain = float(np.mean(np.sum(np.exp(log_new) * adv, axis=-1))) - base
        tried.append((fraction, kl, gain))
        if kl <= delta and gain > 0:
            shape = np.shape(logits_old)
            return {"accepted": True, "step_fraction": fraction, "n_backtracks": j,
                    "logits": z_new.reshape(shape), "kl": kl, "surrogate_gain": gain,
                    "tried": tried}
    return {"accepted": False, "step_fraction": 0.0, "n_backtracks": max_backtracks,
            "logits": z_old.reshape(np.shape(logits_old)), "kl": 0.0, "surrogate_gain": 0.0,
            "tried": tried}


# ---------------------------------------------------------------------------------------
# GRPO
# ---------------------------------------------------------------------------------------


def group_advantages(rewards, *, ddof: int = 0) -> np.ndarray:
    """GRPO outcome-supervision advantages ``(r_i - mean(r)) / std(r)`` within each group.

    DeepSeekMath (arXiv:2402.03300), section 4.1.2: every token of output ``i`` gets
    ``A_i``. The paper does not say which standard deviation; this course uses the
    **population** std (``ddof=0``, divide by ``G``) by default. ``ddof=1`` (divide by
    ``G - 1``, what ``torch.std`` does by default) scales every advantage by
    ``sqrt((G - 1) / G)``. A group whose rewards are all equal carries no signal: its
    advantages are 0 (not NaN).

    Args:
        rewards: array-like of shape ``(G,)`` or ``(n_groups, G)``, one scalar reward per
            output; groups along the last axis, ``G >= 1`` (``G >= 2`` when ``ddof=1``).
        ddof: 0 (population std) or 1 (sample std).

    Returns:
        float64 array of the shape of ``rewards``.

    Raises:
        ValueError: naming ``rewards`` for non-numeric, empty, NaN or inf input, more than
            2 dimensions, or groups too small for ``ddof``; or for a ddof not 0 or 1.
    """
    if isinstance(ddof, bool) or ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 (population std) or 1 (sample std), got {ddof!r}")
    r = float_array(rewards, "rewards")
    if r.ndim not in (1, 2):
        raise ValueError(f"rewards must be 1-D (G,) or 2-D (n_groups, G), got shape {r.shape}")
    size = r.shape[-1]
    if size <= ddof:
        raise ValueError(f"rewards has groups of {size} output(s); ddof={ddof} needs more")
    centred = r - r.mean(axis=-1, keepdims=True)
    std = r.std(axis=-1, ddof=ddof, keepdims=True)
    # Equal rewards: exact test, because the computed std of equal floats can be 1e-17
    constant = np.all(r == r[..., :1], axis=-1, keepdims=True)
    safe_std = np.where(constant, 1.0, std)
    return np.where(constant, 0.0, centred / safe_std)


def _grpo_inputs(logp_new, logp_old, logp_ref, advantages, mask):
    new = float_array(logp_new, "logp_new")
    if new.ndim != 2:
        raise ValueError(f"logp_new must be 2-D (G outputs, T tokens), got shape {new.shape}")
    old = float_array(logp_old, "logp_old")
    ref = float_array(logp_ref, "logp_ref")
    if mask is None:
        m = np.ones(new.shape, dtype=bool)
    else:
        m_arr = float_array(mask, "mask")
        if not np.all((m_arr == 0) | (m_arr == 1)):
            raise ValueError("mask must contain only 0/1 (or False/True)")
        m = m_arr.astype(bool)
    same_shape({"logp_new": new, "logp_old": old, "logp_ref": ref, "mask": m})
    lengths = m.sum(axis=1)
    if np.any(lengths == 0):
        raise ValueError(f"mask: output {int(np.argmin(lengths))} has no token (|o_i| = 0)")
    adv = float_array(advantages, "advantages")
    if adv.shape == (new.shape[0],):
        adv = np.broadcast_to(adv[:, None], new.shape)
    elif adv.shape != new.shape:
        raise ValueError(
            f"advantages must have shape ({new.shape[0]},) (one per output) or {new.shape} "
            f"(one per token), got {adv.shape}")
    # only the real tokens must be log-probabilities; padding is ignored whatever it holds
    for name, arr in (("logp_new", new), ("logp_old", old), ("logp_ref", ref)):
        _log_probs(np.where(m, arr, 0.0), name)
    zero = np.zeros_like(new)
    return (np.where(m, new, zero), np.where(m, old, zero), np.where(m, ref, zero),
            np.where(m, adv, zero), m, lengths)


def grpo_objective(logp_new, logp_old, logp_ref, advantages, mask=None, *,
                   epsilon: float = 0.2, beta: float = 0.04) -> float:
    """GRPO objective ``J`` of one group (DeepSeekMath, arXiv:2402.03300, Eq. 3), to maximise.

    ``J = (1/G) sum_i (1/|o_i|) sum_t [min(rho A, clip(rho, 1-eps, 1+eps) A) - beta D_t]``
    with the **per-token** ratio ``rho_{i,t} = exp(logp_new - logp_old)`` and the per-token
    k3 estimate ``D_t = pi_ref/pi_theta - log(pi_ref/pi_theta) - 1`` of
    ``KL(pi_theta || pi_ref)`` (Eq. 4; see `k3_estimator`).

    Args:
        logp_new: array-like of shape ``(G, T)``: ``log pi_theta(o_{i,t} | q, o_{i,<t})`` of
            each sampled token, padded to the longest output ``T``.
        logp_old: same shape, the log-probabilities under ``pi_old`` (the sampling policy).
        logp_ref: same shape, under the frozen reference policy ``pi_ref``.
        advantages: shape ``(G,)`` (outcome supervision: one ``A_i`` for every token of
            output ``i``, e.g. from `group_advantages`) or ``(G, T)`` (per token).
        mask: shape ``(G, T)`` of 0/1, 1 for the real tokens of each output (each row needs
            at least one); None means no padding. Padded entries may hold any finite number.
        epsilon: clip range, ``0 < epsilon < 1`` (0.2 is common).
        beta: KL coefficient >= 0 (0.04 in the paper).

    Returns:
        float: ``J``.

    Raises:
        ValueError: naming the argument for invalid arrays, shapes that differ, a mask
            that is not 0/1 or leaves an output empty, a real token with log-probability
            > 0, or an invalid epsilon or beta.
    """
    eps = unit_fraction(epsilon, "epsilon")
    b = nonnegative_scalar(beta, "beta")
    new, old, ref, adv, m, lengths = _grpo_inputs(logp_new, logp_old, logp_ref, advantages,
                                                  mask)
    ratio = np.exp(new - old)
    surrogate = np.minimum(ratio * adv, np.clip(ratio, 1.0 - eps, 1.0 + eps) * adv)
    penalty = k3_estimator(ref - new)
    per_token = np.where(m, surrogate - b * penalty, 0.0)
    return float(np.mean(per_token.sum(axis=1) / lengths))


def grpo_loss(logp_new, logp_old, logp_ref, advantages, mask=None, *,
              epsilon: float = 0.2, beta: float = 0.04) -> float:
    """The GRPO loss to minimise: ``-J`` for the objective J of `grpo_objective`.

    Args:
        logp_new, logp_old, logp_ref, advantages, mask, epsilon, beta: as for
            `grpo_objective` (shapes (G, T) or (G,), log-probabilities in nats).

    Returns:
        float: minus the GRPO objective.

    Raises:
        ValueError: whatever `grpo_objective` rejects (shapes, masks, non-finite values).
    """
    return -grpo_objective(logp_new, logp_old, logp_ref, advantages, mask,
                           epsilon=epsilon, beta=beta)


# ---------------------------------------------------------------------------------------
# A softmax policy on a multi-armed bandit, regularised towards a reference policy
# ---------------------------------------------------------------------------------------


def _bandit_inputs(rewards, ref_probs):
    r = one_dimensional(float_array(rewards, "rewards"), "rewards", "one per arm")
    ref = validate_distribution(ref_probs, "ref_probs")
    same_shape({"ref_probs": ref, "rewards": r})
    return r, ref


def bandit_objective(logits, rewards, ref_probs, beta: float) -> float:
    """``J(pi) = sum_a pi(a) r(a) - beta KL(pi || pi_ref)`` for ``pi = softmax(logits)``.

    Args:
        logits: array-like of shape ``(k,)``.
        rewards: array-like of shape ``(k,)``, the expected reward of each arm.
        ref_probs: distribution of shape ``(k,)``, the reference policy.
        beta: KL coefficient >= 0.

    Returns:
        float (``-inf`` if ``pi`` puts mass where ``pi_ref`` has none and beta > 0).

    Raises:
        ValueError: naming the argument for invalid input or shapes that differ.
    """
    b = nonnegative_scalar(beta, "beta")
    r, ref = _bandit_inputs(rewards, ref_probs)
    pi = softmax(float_array(logits, "logits"))
    same_shape({"logits": pi, "rewards": r})
    reward = float(pi @ r)
    return reward if b == 0 else reward - b * float(kl_divergence(pi, ref))


def bandit_gradient(logits, rewards, ref_probs, beta: float) -> np.ndarray:
    """Exact gradient of `bandit_objective` with respect to the logits.

    With ``u(a) = r(a) - beta log(pi(a) / pi_ref(a))``, the softmax chain rule gives
    ``dJ/dz = pi * (u - sum_a pi(a) u(a))`` (the ``-beta`` from differentiating
    ``pi log pi`` cancels in the centring).

    Args:
        logits, rewards, ref_probs, beta: as `bandit_objective`; ``pi_ref > 0`` on every
            arm when beta > 0.

    Returns:
        float64 array of shape ``(k,)``.

    Raises:
        ValueError: as `bandit_objective`, or beta > 0 with a zero in ``ref_probs``.
    """
    b = nonnegative_scalar(beta, "beta")
    r, ref = _bandit_inputs(rewards, ref_probs)
    log_pi = log_softmax(float_array(logits, "logits"))
    same_shape({"logits": log_pi, "rewards": r})
    if b > 0 and np.any(ref == 0):
        raise ValueError("ref_probs has a zero: with beta > 0 the KL gradient is undefined")
    pi = np.exp(log_pi)
    u = r if b == 0 else r - b * (log_pi - np.log(ref))
    return pi * (u - pi @ u)


def bandit_optimal_policy(rewards, ref_probs, beta: float) -> np.ndarray:
    """Maximiser of ``sum_a pi(a) r(a) - beta KL(pi || pi_ref)``: ``pi* ∝ pi_ref exp(r / beta)``.

    (The Gibbs variational principle: ``J(pi) = beta log Z - beta KL(pi || pi*)``.) As
    ``beta -> inf``, ``pi* -> pi_ref``; as ``beta -> 0``, ``pi*`` concentrates on the best
    arms among those ``pi_ref`` allows. ``beta = 0`` returns that limit: equal mass on the
    arms with the highest reward and ``pi_ref > 0``.

    Args:
        rewards: array-like of shape ``(k,)``.
        ref_probs: distribution of shape ``(k,)``.
        beta: >= 0.

    Returns:
        float64 distribution of shape ``(k,)``.

    Raises:
        ValueError: naming the argument for invalid input or shapes that differ.
    """
    b = nonnegative_scalar(beta, "beta")
    r, ref = _bandit_inputs(rewards, ref_probs)
    allowed = ref > 0
    if b == 0:
        best = allowed & (r == np.max(r[allowed]))
        return best / best.sum()
    with np.errstate(divide="ignore"):
        logits = np.where(allowed, np.log(ref) + r / b, -np.inf)
    return softmax(logits)


def train_bandit_policy(rewards, ref_probs, beta: float, *, steps: int = 500,
                        learning_rate: float = 1.0, logits_init=None) -> dict:
    """Exact gradient ascent on `bandit_objective`, starting from ``pi = pi_ref``.

    Args:
        rewards, ref_probs, beta: as `bandit_gradient` (``pi_ref > 0`` everywhere).
        steps: number of updates, an integer >= 1.
        learning_rate: step size > 0 on the logits.
        logits_init: array-like of shape ``(k,)``; default ``log pi_ref``.

    Returns:
        dict with ``"expected_reward"`` and ``"kl_to_ref"`` (arrays of shape
        ``(steps + 1,)``, before the first update and after each one, in reward units and
        nats), ``"objective"`` (same shape) and ``"probs"`` (the final policy, ``(k,)``).

    Raises:
        ValueError: naming the argument for invalid input.
    """
    b = nonnegative_scalar(beta, "beta")
    lr = positive_scalar(learning_rate, "learning_rate")
    steps = integer_at_least(steps, "steps", 1)
    r, ref = _bandit_inputs(rewards, ref_probs)
    if np.any(ref == 0):
        raise ValueError("ref_probs has a zero: start from a reference with full support")
    z = np.log(ref) if logits_init is None else float_array(logits_init, "logits_init")
    same_shape({"logits_init": z, "rewards": r})
    log_ref = np.log(ref)
    reward_hist = np.empty(steps + 1)
    kl_hist = np.empty(steps + 1)
    for t in range(steps + 1):
        log_pi = log_softmax(z)
        pi = np.exp(log_pi)
        reward_hist[t] = pi @ r
        kl_hist[t] = max(float(pi @ (log_pi - log_ref)), 0.0)
        if t < steps:
            u = r - b * (log_pi - log_ref)
            z = z + lr * pi * (u - pi @ u)
    return {"expected_reward": reward_hist, "kl_to_ref": kl_hist,
            "objective": reward_hist - b * kl_hist, "probs": np.exp(log_softmax(z))}


# ---------------------------------------------------------------------------------------
# PPO on a sampled contextual bandit (notebook 05, section 4 and Exercise 3 (b))
# ---------------------------------------------------------------------------------------


def _bandit_table(success_probs) -> np.ndarray:
    p = float_array(success_probs, "success_probs")
    if p.ndim != 2:
        raise ValueError(f"success_probs must be 2-D (n_states, n_actions), got shape {p.shape}")
    reject_where(p, "success_probs", (p < 0) | (p > 1), "must lie in [0, 1]")
    return p


def contextual_bandit_sample(pi_old, success_probs, states, uniforms):
    """Actions and 0/1 rewards of a batch, drawn with given uniform numbers.

    Sample ``t`` is in state ``s = states[t]``; its action is the number of entries of
    ``cumsum(pi_old[s])[:-1]`` that are ``<= uniforms[t, 0]`` (inverse-CDF sampling), and
    its reward is 1 if ``uniforms[t, 1] < success_probs[s, a]``, else 0. Passing the uniform
    numbers in makes a batch reproducible whatever code draws it.

    Args:
        pi_old: array-like of shape ``(n_states, n_actions)``, one distribution per row.
        success_probs: array-like of the same shape, each entry in [0, 1].
        states: integers in ``0 .. n_states - 1``, shape ``(n,)``.
        uniforms: array-like of shape ``(n, 2)`` with entries in [0, 1).

    Returns:
        tuple ``(actions, rewards)``: an int array and a float array of shape ``(n,)``.

    Raises:
        ValueError: naming the argument for invalid input or shapes that do not fit.
    """
    pi = float_array(pi_old, "pi_old")
    p = _bandit_table(success_probs)
    same_shape({"pi_old": pi, "success_probs": p})
    s = one_dimensional(index_array(states, "states", p.shape[0]), "states",
                        "one state per sample")
    u = float_array(uniforms, "uniforms")
    check_shape(u, "uniforms", (s.size, 2), "one pair of uniform numbers per sample")
    actions = np.sum(np.cumsum(pi[s], axis=1)[:, :-1] <= u[:, :1], axis=1)
    rewards = (u[:, 1] < p[s, actions]).astype(float)
    return actions, rewards


def state_mean_advantages(states, rewards, n_states: int) -> np.ndarray:
    """``A_t = r_t - b(s_t)``, the baseline ``b(s)`` being the batch's mean reward in state s.

    Args:
        states: integers in ``0 .. n_states - 1``, shape ``(n,)``.
        rewards: array-like of shape ``(n,)``.
        n_states: the number of states, an integer >= 1.

    Returns:
        float64 array of shape ``(n,)`` (zero for a state visited once).

    Raises:
        ValueError: ``states`` are not integers in ``0 .. n_states - 1``, one per reward,
            ``rewards`` is not one-dimensional or not finite, or ``n_states`` < 1.
    """
    n_states = integer_at_least(n_states, "n_states", 1)
    r = one_dimensional(float_array(rewards, "rewards"), "rewards", "one per sample")
    s = index_array(states, "states", n_states, shape=r.shape, why=" (one per reward)")
    totals = np.bincount(s, weights=r, minlength=n_states)
    counts = np.bincount(s, minlength=n_states)
    baseline = totals / np.maximum(counts, 1)
    return r - baseline[s]


def contextual_bandit_return(logits, success_probs) -> float:
    """The true expected reward ``mean_s sum_a pi(a|s) p(s, a)``, states equally likely.

    ``pi(.|s) = softmax(logits[s])``; no sampling: this is the return a policy would earn
    on average, against which a sampled surrogate is compared.

    Args:
        logits: array-like of shape ``(n_states, n_actions)``.
        success_probs: array-like of the same shape, entries in [0, 1]: the probability
            that action a in state s is rewarded with 1 (else 0).

    Returns:
        The expected reward per episode, a float in [0, 1].

    Raises:
        ValueError: ``success_probs`` is not 2-D, the shapes differ, a value is not
            finite, or a success probability is outside [0, 1].
    """
    p = _bandit_table(success_probs)
    z = float_array(logits, "logits")
    same_shape({"logits": z, "success_probs": p})
    return float(np.mean(np.sum(softmax(z, axis=-1) * p, axis=1)))


def ppo_kl_penalty_training(logits, success_probs, states, uniforms, beta: float,
                            kl_target: float, learning_rate: float,
                            n_epochs: int) -> np.ndarray:
    """PPO with the adaptive KL penalty (Eq. 8) on a tabular softmax policy.

    For each iteration ``i`` (one per row of ``states``):

    1. ``pi_old = softmax(theta)`` row by row; draw the batch with
       `contextual_bandit_sample` from ``states[i]`` and ``uniforms[i]``;
    2. advantages `state_mean_advantages` (reward minus the batch's mean reward in
       the same state), computed once;
    3. ``n_epochs`` full-batch gradient-ascent steps ``theta += learning_rate * grad`` on
       ``L = mean_t [rho_t A_t - beta KL(pi_old(.|s_t) || pi_theta(.|s_t))]``, whose gradient
       with respect to row ``s`` of the logits is ``(1/n) sum_{t: s_t = s} [rho_t A_t
       (e_{a_t} - pi_theta(.|s)) - beta (pi_theta(.|s) - pi_old(.|s))]``;
    4. ``d = mean_t KL(pi_old(.|s_t) || pi_new(.|s_t))`` (exact, over the actions), then
       ``beta = adaptive_kl_beta(beta, d, kl_target)``.

    Args:
        logits: array-like of shape ``(n_states, n_actions)``, the initial policy's logits.
        success_probs: array-like of the same shape: the probability that action a in
            state s is rewarded with 1 (else 0).
        states: integers of shape ``(n_iterations, n)``, the states of each batch.
        uniforms: array-like of shape ``(n_iterations, n, 2)`` in [0, 1): the numbers that
            draw each sample's action and reward (see `contextual_bandit_sample`).
        beta: the initial penalty coefficient, > 0.
        kl_target: ``d_targ`` > 0, in nats.
        learning_rate: step size > 0 on the logits.
        n_epochs: gradient steps per batch, an integer >= 1.

    Returns:
        float64 array of shape ``(n_iterations, 3)``: row ``i`` holds the mean KL ``d`` of
        update ``i`` (nats), the coefficient ``beta`` after adapting it (the one update
        ``i + 1`` uses), and the true expected reward of the policy after update ``i``
        (`contextual_bandit_return`).

    Raises:
        ValueError: naming the argument for invalid input.
    """
    p = _bandit_table(success_probs)
    theta = float_array(logits, "logits")
    same_shape({"logits": theta, "success_probs": p})
    b = positive_scalar(beta, "beta")
    target = positive_scalar(kl_target, "kl_target")
    lr = positive_scalar(learning_rate, "learning_rate")
    n_epochs = integer_at_least(n_epochs, "n_epochs", 1)
    all_states = np.asarray(states)
    if all_states.ndim != 2:
        raise ValueError(f"states must be 2-D (n_iterations, n), got shape {all_states.shape}")
    all_u = float_array(uniforms, "uniforms")
    check_shape(all_u, "uniforms", (*all_states.shape, 2), "a pair per sample")
    n_states, n_actions = p.shape
    eye = np.eye(n_actions)
    history = np.empty((all_states.shape[0], 3))
    for i, (s, u) in enumerate(zip(all_states, all_u, strict=True)):
        log_old = log_softmax(theta, axis=1)
        pi_old = np.exp(log_old)
        a, r = contextual_bandit_sample(pi_old, p, s, u)
        adv = state_mean_advantages(s, r, n_states)
        for _ in range(n_epochs):
            log_pi = log_softmax(theta, axis=1)
            pi = np.exp(log_pi)
            rho = np.exp(log_pi[s, a] - log_old[s, a])
            per_sample = (rho * adv)[:, None] * (eye[a] - pi[s]) - b * (pi[s] - pi_old[s])
            grad = np.zeros_like(theta)
            np.add.at(grad, s, per_sample)
            theta = theta + lr * grad / s.size
        log_new = log_softmax(theta, axis=1)
        d = float(np.mean(np.sum(pi_old[s] * (log_old[s] - log_new[s]), axis=1)))
        b = adaptive_kl_beta(b, max(d, 0.0), target)
        history[i] = (d, b, contextual_bandit_return(theta, p))
    return history
