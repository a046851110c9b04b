"""Self-check exercises of notebooks 05 and 06 (the RL estimators and objectives;
the VAE, distillation, ELBO and coding-cost functions).

Registered with `kl_helpers.selfcheck` when that module is imported (its last lines
import this one); ``check(func)`` then finds them by the function's name.

Every case below is this module's own input: none is a graded test's, so a check
never shows a hidden test's data. The inputs have the types the graded tests pass
(numpy arrays, or lists where the tests use lists), so that a function the tests
accept is never refused here. Each case is built so that the mistakes it is meant to
reveal give values different from each other and from the right answer; a wrong
implementation (a *variant*) is named only when it reproduces the received value.

Notebook 05: ``k1_per_sample``, ``k2_per_sample``, ``k3_per_sample``,
``ppo_kl_penalty``, ``adapt_beta``, ``ppo_kl_penalty_training``,
``group_normalized_advantages``,
``grpo_token_objective``. Notebook 06: ``vae_kl``, ``distillation_loss``,
``soft_target_gradient``, ``elbo_gaussian``, ``coding_cost_bits``. Each is checked with
``check(func)`` and no options: every case is a core case.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_softmax as _log_softmax

from . import applications, closed_forms, rl
from .selfcheck import Case, Exercise, Variant, _register, register_graded

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _floats(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _softmax(z, axis=-1) -> np.ndarray:
    return np.exp(_log_softmax(_floats(z), axis=axis))


def _per_sample(what: str) -> str:
    return (f"your function returned one number (the mean over the samples) instead of "
            f"{what}: return the array of per-sample values, shape (n,), and let the "
            "caller average it")


# =======================================================================================
# Notebook 05, Exercise 1: Schulman's estimators k1, k2, k3 of KL(q || p), x ~ q
# =======================================================================================

# log p(x_j) and log q(x_j) for four samples: log r = logp - logq = [-0.9, 0.7, 0, 1.2],
# so r is below 1, above 1, exactly 1 (every estimator gives 0) and well above 1
_K_LOGP = np.array([-1.6, -0.4, -2.3, -0.25])
_K_LOGQ = np.array([-0.7, -1.1, -2.3, -1.45])
# three samples whose ratio is within 2e-4 of 1, where r - 1 suffers from rounding
_K_NEAR_LOGQ = np.array([-1.2, -0.3, -2.0])
_K_NEAR_LOGP = _K_NEAR_LOGQ + np.array([3e-5, -8e-5, 1.5e-4])


def _log_ratio(logp, logq) -> np.ndarray:
    return _floats(logp) - _floats(logq)


def _k_cases() -> tuple[Case, ...]:
    return (
        Case("four samples, with ratios r = p(x)/q(x) below, at and above 1", "core",
             (_K_LOGP, _K_LOGQ)),
        Case("three samples with r within 2e-4 of 1", "core", (_K_NEAR_LOGP, _K_NEAR_LOGQ),
             hints={"value": ("with r this close to 1 the estimates are tiny; compute "
                              "log r = logp - logq first, and for k3 write r - 1 as "
                              "np.expm1(log r)")}),
    )


def _k1_reference(logp, logq):
    return rl.k1_estimator(_log_ratio(logp, logq))


def _k2_reference(logp, logq):
    return rl.k2_estimator(_log_ratio(logp, logq))


def _k3_reference(logp, logq):
    return rl.k3_estimator(_log_ratio(logp, logq))


def _k1_exercise() -> Exercise:
    return Exercise(
        name="k1_per_sample",
        reference=_k1_reference,
        arg_names=("logp", "logq"),
        default_features=(),
        variants=(
            ("your k1 has the wrong sign: it returns log r = logp - logq, but k1 = -log r = "
             "logq - logp. With r = p(x)/q(x) (target over sampling distribution) the "
             "average of -log r is KL(q || p); using r = q(x)/p(x) gives the same sign error",
             lambda lp, lq: _log_ratio(lp, lq)),
            ("your function treats logp and logq as probabilities: it takes the log of "
             "logp / logq. They are already logarithms, so log r = logp - logq",
             lambda lp, lq: -np.log(_floats(lp) / _floats(lq))),
            (_per_sample("one k1 value per sample"),
             lambda lp, lq: np.mean(-_log_ratio(lp, lq))),
        ),
        cases=_k_cases(),
    )


def _k2_exercise() -> Exercise:
    return Exercise(
        name="k2_per_sample",
        reference=_k2_reference,
        arg_names=("logp", "logq"),
        default_features=(),
        variants=(
            ("your k2 is twice too large: the 1/2 is missing. k2 = (log r)^2 / 2",
             lambda lp, lq: _log_ratio(lp, lq) ** 2),
            ("your k2 is (log r / 2)^2 = (log r)^2 / 4: the 1/2 multiplies the square, it is "
             "not squared with it. k2 = 0.5 * (log r)**2",
             lambda lp, lq: (_log_ratio(lp, lq) / 2) ** 2),
            ("your k2 squares r - 1 instead of log r: k2 = (log r)^2 / 2 with "
             "log r = logp - logq", lambda lp, lq: 0.5 * np.expm1(_log_ratio(lp, lq)) ** 2),
            ("your k2 has the wrong sign: (log r)^2 / 2 is never negative",
             lambda lp, lq: -0.5 * _log_ratio(lp, lq) ** 2),
            (_per_sample("one k2 value per sample"),
             lambda lp, lq: np.mean(0.5 * _log_ratio(lp, lq) ** 2)),
        ),
        cases=_k_cases(),
    )


def _k3_of(log_r) -> np.ndarray:
    log_r = _floats(log_r)
    return np.expm1(log_r) - log_r


def _k3_exercise() -> Exercise:
    return Exercise(
        name="k3_per_sample",
        reference=_k3_reference,
        arg_names=("logp", "logq"),
        default_features=(),
        variants=(
            ("your k3 uses the ratio upside down, r = q(x)/p(x). k3 = (r - 1) - log r is an "
             "unbiased estimate of KL(q || p) only with r = p(x)/q(x), the target over the "
             "distribution the samples come from: log r = logp - logq",
             lambda lp, lq: _k3_of(-_log_ratio(lp, lq))),
            ("your k3 adds log r instead of subtracting it: k3 = (r - 1) - log r",
             lambda lp, lq: np.expm1(_log_ratio(lp, lq)) + _log_ratio(lp, lq)),
            ("your k3 forgets the -1: k3 = (r - 1) - log r, which is 0 when r = 1 "
             "(yours gives 1 there)",
             lambda lp, lq: np.exp(_log_ratio(lp, lq)) - _log_ratio(lp, lq)),
            ("your k3 has the wrong sign: k3 = (r - 1) - log r is never negative "
             "(log r <= r - 1)", lambda lp, lq: -_k3_of(_log_ratio(lp, lq))),
            ("your function returns k1 = -log r, not k3 = (r - 1) - log r: add r - 1",
             lambda lp, lq: -_log_ratio(lp, lq)),
            (_per_sample("one k3 value per sample"),
             lambda lp, lq: np.mean(_k3_of(_log_ratio(lp, lq)))),
        ),
        cases=_k_cases(),
    )


# =======================================================================================
# Notebook 05, Exercise 2: PPO's KL-penalty objective L^KLPEN (Eq. 8)
# =======================================================================================


def _ppo_parts(pi_old, pi_new, actions):
    old, new = _floats(pi_old), _floats(pi_new)
    rows = np.arange(old.shape[0])
    taken = np.asarray(actions, dtype=int)
    return old, new, new[rows, taken] / old[rows, taken], old[rows, taken], new[rows, taken]


def _ppo_like(pi_old, pi_new, actions, advantages, beta, *, ratio="unclipped",
              kl="old_first", penalty_sign=-1.0, reduce=np.mean, invert_ratio=False,
              use_beta=True):
    """L^KLPEN with one deliberate change: the wrong implementations students write."""
    old, new, r, old_a, new_a = _ppo_parts(pi_old, pi_new, actions)
    adv = _floats(advantages)
    if invert_ratio:
        r = 1.0 / r
    if ratio == "clipped":
        surrogate = np.clip(r, 0.8, 1.2) * adv
    elif ratio == "min_clipped":
        surrogate = np.minimum(r * adv, np.clip(r, 0.8, 1.2) * adv)
    else:
        surrogate = r * adv
    kl_per_state = {
        "old_first": lambda: np.sum(old * np.log(old / new), axis=1),
        "new_first": lambda: np.sum(new * np.log(new / old), axis=1),
        "bits": lambda: np.sum(old * np.log2(old / new), axis=1),
        "mean_over_actions": lambda: np.mean(old * np.log(old / new), axis=1),
        "taken_log_ratio": lambda: np.log(old_a / new_a),
        "taken_term": lambda: old_a * np.log(old_a / new_a),
    }[kl]()
    weight = float(beta) if use_beta else 1.0
    return reduce(surrogate + penalty_sign * weight * kl_per_state)


def _ppo_exercise() -> Exercise:
    return Exercise(
        name="ppo_kl_penalty",
        reference=rl.ppo_kl_penalty_from_tables,
        arg_names=("pi_old", "pi_new", "actions", "advantages", "beta"),
        default_features=(),
        variants=(
            ("your KL is in the wrong direction: you penalise KL(pi_new || pi_old), the "
             "source's formula. PPO's Eq. 8 penalises KL[pi_old, pi_new] = sum_a pi_old(a) "
             "log(pi_old(a) / pi_new(a)), the old policy (which collected the data) first",
             lambda *a: _ppo_like(*a, kl="new_first")),
            ("you clipped the ratio: L^KLPEN uses the plain ratio r_t = pi_new / pi_old; "
             "clip(r, 0.8, 1.2) belongs to the other objective, L^CLIP",
             lambda *a: _ppo_like(*a, ratio="clipped")),
            ("you wrote min(r A, clip(r, 0.8, 1.2) A) - beta KL, the clipped objective with "
             "a penalty. The exercise asks for Eq. 8, L^KLPEN, whose ratio is not clipped: "
             "r A - beta KL", lambda *a: _ppo_like(*a, ratio="min_clipped")),
            ("your ratio is upside down: r_t = pi_new[t, a_t] / pi_old[t, a_t], new over old",
             lambda *a: _ppo_like(*a, invert_ratio=True)),
            ("you add the penalty instead of subtracting it: L^KLPEN = mean[r A - beta KL] "
             "is maximised, so the KL must lower it",
             lambda *a: _ppo_like(*a, penalty_sign=1.0)),
            ("your KL is not multiplied by beta: the penalty is beta * KL",
             lambda *a: _ppo_like(*a, use_beta=False)),
            ("your KL uses only the action taken, log(pi_old[t, a_t] / pi_new[t, a_t]) (a "
             "one-sample estimate). The exercise asks for the exact KL of each state: the sum "
             "over all actions of pi_old(a) log(pi_old(a) / pi_new(a))",
             lambda *a: _ppo_like(*a, kl="taken_log_ratio")),
            ("your KL keeps only the taken action's term pi_old(a_t) log(pi_old(a_t) / "
             "pi_new(a_t)): sum that term over all actions of the state",
             lambda *a: _ppo_like(*a, kl="taken_term")),
            ("your KL averages the terms pi_old(a) log(pi_old(a) / pi_new(a)) over the actions; "
             "a KL divergence sums them", lambda *a: _ppo_like(*a, kl="mean_over_actions")),
            ("your KL is in bits (log2): use the natural logarithm, np.log",
             lambda *a: _ppo_like(*a, kl="bits")),
            ("you summed over the samples: L^KLPEN is the mean over the n samples (1/n sum_t)",
             lambda *a: _ppo_like(*a, reduce=np.sum)),
            ("your function returned one value per sample: return their mean, one float",
             lambda *a: _ppo_like(*a, reduce=lambda values: values)),
        ),
        cases=(
            Case("a batch of three samples, beta = 0.7", "core",
                 (np.array([[0.2, 0.5, 0.3], [0.55, 0.35, 0.1], [0.3, 0.2, 0.5]]),
                  np.array([[0.35, 0.4, 0.25], [0.5, 0.2, 0.3], [0.3, 0.3, 0.4]]),
                  np.array([0, 2, 1]), np.array([1.5, -0.8, 0.4]), 0.7)),
            Case("beta = 0 and ratios far outside [0.8, 1.2] (only the ratio term counts)",
                 "core",
                 (np.array([[0.15, 0.85], [0.7, 0.3], [0.6, 0.4]]),
                  np.array([[0.6, 0.4], [0.35, 0.65], [0.25, 0.75]]),
                  np.array([0, 0, 0]), np.array([0.5, -1.0, 2.0]), 0.0)),
            Case("zero advantages, beta = 2 (the objective is -2 times the mean KL)", "core",
                 (np.array([[0.85, 0.1, 0.05], [0.3, 0.3, 0.4]]),
                  np.array([[0.4, 0.3, 0.3], [0.2, 0.5, 0.3]]),
                  np.array([1, 2]), np.array([0.0, 0.0]), 2.0)),
        ),
    )


# =======================================================================================
# Notebook 05, Exercise 3: PPO's adaptive beta
# =======================================================================================

# kl_target = 3 puts the band at [2, 4.5]: both ends are exact in floating point
_TARGET, _BETA = 3.0, 0.8


def _adapt_like(beta, kl, kl_target, *, low, high, shrink=2.0, grow=2.0, strict=True,
                swap=False):
    """The rule with the thresholds, factors, comparisons or actions changed."""
    below = kl < low if strict else kl <= low
    above = kl > high if strict else kl >= high
    if swap:
        below, above = above, below
    if below:
        return beta / shrink
    if above:
        return beta * grow
    return beta


# At a band's end, every rule that moves beta there gives the same value: the cases at the
# ends name this mistake before the exercise's others (a rule without a band, or with
# swapped thresholds, already failed the case inside the band)
_INCLUSIVE_ENDS: Variant = (
    "your comparisons include the band's ends (<= or >=): a KL exactly at kl_target / 1.5 or "
    "at 1.5 * kl_target leaves beta unchanged, so use strict < and >",
    lambda b, d, t: _adapt_like(b, d, t, low=t / 1.5, high=1.5 * t, strict=False))


def _adapt_exercise() -> Exercise:
    return Exercise(
        name="adapt_beta",
        reference=rl.adaptive_kl_beta,
        arg_names=("beta", "kl", "kl_target"),
        default_features=(),
        variants=(
            ("your function doubles beta when the KL is too small and halves it when the KL "
             "is too large: the other way round. A timid update (kl < kl_target / 1.5) relaxes "
             "the penalty, beta / 2; an update that went too far (kl > 1.5 kl_target) "
             "tightens it, 2 beta",
             lambda b, d, t: _adapt_like(b, d, t, low=t / 1.5, high=1.5 * t, swap=True)),
            ("your thresholds are swapped: beta is halved below kl_target / 1.5 and doubled "
             "above 1.5 * kl_target (you compare with 1.5 * kl_target for the lower one and "
             "kl_target / 1.5 for the upper one)",
             lambda b, d, t: _adapt_like(b, d, t, low=1.5 * t, high=t / 1.5)),
            ("your function has no band: it compares kl with kl_target itself. beta stays "
             "unchanged for every kl between kl_target / 1.5 and 1.5 * kl_target",
             lambda b, d, t: _adapt_like(b, d, t, low=t, high=t)),
            ("your thresholds are kl_target / 2 and 2 * kl_target: the factor 2 is what beta "
             "is multiplied or divided by; the band's ends are kl_target / 1.5 and "
             "1.5 * kl_target",
             lambda b, d, t: _adapt_like(b, d, t, low=t / 2, high=2 * t)),
            ("your factor is 1.5: 1.5 sets the band's ends, but beta is halved or doubled "
             "(factor 2)",
             lambda b, d, t: _adapt_like(b, d, t, low=t / 1.5, high=1.5 * t, shrink=1.5,
                                         grow=1.5)),
        ),
        cases=(
            Case("kl = 1.8 with kl_target = 3: below the band [2, 4.5], so halve", "core",
                 (_BETA, 1.8, _TARGET)),
            Case("kl = 5 with kl_target = 3: above the band [2, 4.5], so double", "core",
                 (_BETA, 5.0, _TARGET)),
            Case("kl = 3.3 with kl_target = 3: inside the band, beta stays", "core",
                 (_BETA, 3.3, _TARGET)),
            Case("kl = 2 = kl_target / 1.5 exactly: the lower end of the band, beta stays",
                 "core", (_BETA, 2.0, _TARGET), variants=(_INCLUSIVE_ENDS,)),
            Case("kl = 4.5 = 1.5 * kl_target exactly: the upper end of the band, beta stays",
                 "core", (_BETA, 4.5, _TARGET), variants=(_INCLUSIVE_ENDS,)),
        ),
    )


# =======================================================================================
# Notebook 05, Exercise 3 (b): a PPO training loop with the adaptive KL penalty
# =======================================================================================


def _training_like(logits, success_probs, states, uniforms, beta, kl_target, learning_rate,
                   n_epochs, *, baseline=True, use_ratio=True, penalty_sign=-1.0,
                   adapt=True, kl_new_first=False, return_before=False, reverse_penalty=False,
                   beta_before=False, adapt_each_epoch=False, clip=None,
                   penalty_per_state=False, global_baseline=False, d_over_states=False):
    """The training loop with one deliberate change (the mistakes students make)."""
    theta = _floats(logits).copy()
    p = _floats(success_probs)
    all_states = np.asarray(states, dtype=int)
    all_u = _floats(uniforms)
    n_states, n_actions = p.shape
    eye = np.eye(n_actions)
    b = float(beta)
    rows = []
    for s, u in zip(all_states, all_u, strict=True):
        pi_old = _softmax(theta, axis=1)
        # the draws and the baseline are the library's: the mistakes lie elsewhere
        a, r = rl.contextual_bandit_sample(pi_old, p, s, u)
        if global_baseline:
            adv = r - r.mean()
        elif baseline:
            adv = rl.state_mean_advantages(s, r, n_states)
        else:
            adv = r
        for _ in range(n_epochs):
            pi = _softmax(theta, axis=1)
            rho = pi[s, a] / pi_old[s, a] if use_ratio else np.ones(s.size)
            if clip is not None:      # PPO-clip's mask: no gradient once the ratio left the range
                rho = rho * np.where(adv > 0, rho < 1 + clip, rho > 1 - clip)
            if reverse_penalty:       # the gradient of KL(pi_theta || pi_old) instead
                log_gap = np.log(pi[s]) - np.log(pi_old[s])
                penalty = pi[s] * (log_gap - np.sum(pi[s] * log_gap, axis=1, keepdims=True))
            else:
                penalty = pi[s] - pi_old[s]
            per_sample = (rho * adv)[:, None] * (eye[a] - pi[s])
            if not penalty_per_state:
                per_sample = per_sample + penalty_sign * b * penalty
            grad = np.zeros_like(theta)
            np.add.at(grad, s, per_sample)
            if penalty_per_state:     # once for each state of the batch, not once per sample
                seen = np.unique(s)
                grad[seen] += penalty_sign * b * (pi - pi_old)[seen]
            theta = theta + learning_rate * grad / s.size
            if adapt_each_epoch:
                d_epoch = _mean_row_kl(pi_old[s], _softmax(theta, axis=1)[s])
                b = rl.adaptive_kl_beta(b, max(d_epoch, 0.0), kl_target)
        pi_new = _softmax(theta, axis=1)
        first, second = (pi_new, pi_old) if kl_new_first or reverse_penalty else (pi_old, pi_new)
        d = _mean_row_kl(first, second) if d_over_states else _mean_row_kl(first[s], second[s])
        recorded = b
        if adapt and not adapt_each_epoch:
            b = rl.adaptive_kl_beta(b, max(d, 0.0), kl_target)
        if not beta_before:
            recorded = b
        shown = pi_old if return_before else pi_new
        rows.append([d, recorded, float(np.mean(np.sum(shown * p, axis=1)))])
    return np.array(rows)


def _mean_row_kl(first, second) -> float:
    """The mean over rows of KL(first row || second row), rows of strictly positive entries."""
    return float(np.mean(np.sum(first * (np.log(first) - np.log(second)), axis=1)))


def _training_case_data(n_states, n_actions, n_iterations, n, seed):
    rng = np.random.default_rng(seed)
    probs = np.round(rng.uniform(0.05, 0.95, (n_states, n_actions)), 2)
    logits = np.round(rng.normal(0.0, 0.6, (n_states, n_actions)), 2)
    states = rng.integers(n_states, size=(n_iterations, n))
    # two decimals keep the check's message short; any numbers in [0, 1) would do
    uniforms = np.round(rng.random((n_iterations, n, 2)), 2)
    return logits, probs, states, uniforms


def _training_exercise() -> Exercise:
    two_by_three = _training_case_data(2, 3, 3, 8, 8080)
    three_by_two = _training_case_data(3, 2, 3, 9, 9191)
    return Exercise(
        name="ppo_kl_penalty_training",
        reference=rl.ppo_kl_penalty_training,
        arg_names=("logits", "success_probs", "states", "uniforms", "beta", "kl_target",
                   "learning_rate", "n_epochs"),
        default_features=(),
        rtol=1e-7, atol=1e-12,
        variants=(
            ("your advantages are the rewards themselves: subtract the baseline, the batch's "
             "mean reward over the samples in the same state",
             lambda *a: _training_like(*a, baseline=False)),
            ("your gradient leaves out the ratio rho_t = pi_theta(a_t|s_t) / pi_old(a_t|s_t): "
             "it is 1 only at the first epoch; recompute it at every step",
             lambda *a: _training_like(*a, use_ratio=False)),
            ("your penalty pushes away from pi_old: its gradient term is "
             "-beta * (pi_theta(.|s) - pi_old(.|s)), with a minus sign",
             lambda *a: _training_like(*a, penalty_sign=1.0)),
            ("beta never changes: after each iteration adapt it with the rule of part (a), "
             "adapt_beta(beta, d, kl_target), and use the new value in the next iteration",
             lambda *a: _training_like(*a, adapt=False)),
            ("your KL d is in the wrong direction: measure KL(pi_old(.|s_t) || pi_new(.|s_t)), "
             "the old policy first", lambda *a: _training_like(*a, kl_new_first=True)),
            ("your third column is the return of the policy before the update: report the "
             "true expected reward of the new policy, after the epochs",
             lambda *a: _training_like(*a, return_before=True)),
            ("your penalty and your d both use KL(pi_theta || pi_old), the new policy first: "
             "PPO's penalty is KL(pi_old || pi_theta), whose gradient row is "
             "pi_theta(.|s) - pi_old(.|s), and d measures the same direction",
             lambda *a: _training_like(*a, reverse_penalty=True)),
            ("your second column is beta before adapting it: record the new beta, "
             "adapt_beta(beta, d, kl_target), the one the next iteration uses",
             lambda *a: _training_like(*a, beta_before=True)),
            ("you adapt beta after every epoch: adapt it once per iteration, after all "
             "n_epochs steps, with that iteration's d",
             lambda *a: _training_like(*a, adapt_each_epoch=True)),
            ("your gradient applies PPO's clip (no gradient once the ratio is outside "
             "1 +/- 0.2): L^KLPEN has no clip, the penalty alone keeps the update small",
             lambda *a: _training_like(*a, clip=0.2)),
            ("your penalty counts once per state of the batch: it belongs to every sample, "
             "-beta * (pi_theta(.|s_t) - pi_old(.|s_t)) added for each t before dividing by n",
             lambda *a: _training_like(*a, penalty_per_state=True)),
            ("your baseline is the whole batch's mean reward: subtract the mean reward over "
             "the samples in the same state as t",
             lambda *a: _training_like(*a, global_baseline=True)),
            ("your d averages the KL over all states equally: average it over the samples, "
             "(1/n) sum_t KL(pi_old(.|s_t) || pi_new(.|s_t)), so frequent states weigh more",
             lambda *a: _training_like(*a, d_over_states=True)),
        ),
        cases=(
            Case("2 states, 3 actions, 3 iterations of 8 samples, 4 epochs, beta = 1", "core",
                 (*two_by_three, 1.0, 0.02, 1.5, 4)),
            Case("3 states, 2 actions, 3 iterations of 9 samples, 2 epochs, beta = 0.2", "core",
                 (*three_by_two, 0.2, 0.005, 2.0, 2)),
        ),
    )


# =======================================================================================
# Notebook 05, Exercise 4: GRPO's group-normalised advantages
# =======================================================================================

_ZERO_ADVANTAGES = ("return an array of zeros, one per output (shape (G,)), not the number 0: "
                    "every output of the group needs its advantage")


def _group_exercise() -> Exercise:
    def centred(r):
        r = _floats(r)
        return r - r.mean()

    def sample_std(r):
        # by hand, not np.std(ddof=1): for one reward numpy would warn in the student's
        # notebook while the check tries this mistake on the group of one
        c = centred(r)
        return np.sqrt(np.sum(c**2) / (c.size - 1))

    return Exercise(
        name="group_normalized_advantages",
        reference=rl.group_advantages,
        arg_names=("rewards",),
        default_features=(),
        variants=(
            ("you divided by the sample standard deviation (ddof=1, divide by G - 1). The "
             "exercise prescribes the population std (divide by G: np.std's default ddof=0)",
             lambda r: centred(r) / sample_std(r)),
            ("you did not divide by the standard deviation: the advantages are "
             "(r_i - mean(r)) / std(r)", lambda r: centred(r)),
            ("you did not subtract the mean: the advantages are (r_i - mean(r)) / std(r)",
             lambda r: _floats(r) / np.std(_floats(r))),
            ("you divided by the variance, not the standard deviation: std = sqrt(variance)",
             lambda r: centred(r) / np.var(_floats(r))),
        ),
        cases=(
            Case("a group of five rewards", "core", (np.array([0.2, 0.9, 0.5, 0.0, 0.4]),)),
            Case("a group of two rewards, as a list", "core", ([3.0, -1.0],)),
            Case("three equal rewards 0.7, whose computed std is about 1e-16, not 0", "core",
                 (np.array([0.7, 0.7, 0.7]),),
                 variants=((_ZERO_ADVANTAGES, lambda r: 0.0),),
                 hints={
                     "nan": ("equal rewards gave NaN: their std is 0 (or nearly), and 0 / 0 "
                             "is nan. Equal rewards carry no signal: return zeros"),
                     "inf": ("equal rewards gave an infinite advantage: you divided by a std "
                             "that is 0 or nearly 0. Test whether all rewards are equal and "
                             "return zeros"),
                     "value": ("equal rewards must give exact zeros. The computed std of "
                               "[0.7, 0.7, 0.7] is about 1.1e-16, not 0, and so is "
                               "r_i - mean(r): a test `std == 0` misses it and the division "
                               "gives values near 1 (of either sign). Test the rewards for "
                               "equality instead, e.g. np.all(r == r[0])"),
                 }),
            Case("a group of a single output", "core", ([-0.35],),
                 variants=((_ZERO_ADVANTAGES, lambda r: 0.0),),
                 hints={"nan": ("a group of one output gave NaN: its rewards are trivially "
                                "all equal, so its advantage is 0 (with ddof=1 the std "
                                "divides by G - 1 = 0)")}),
        ),
    )


# =======================================================================================
# Notebook 05, Exercise 5: the GRPO objective of one group
# =======================================================================================


def _grpo_reference(logp_new, logp_old, logp_ref, advantages, mask, epsilon=0.2, beta=0.04):
    return rl.grpo_objective(logp_new, logp_old, logp_ref, advantages, mask,
                             epsilon=epsilon, beta=beta)


def _grpo_like(logp_new, logp_old, logp_ref, advantages, mask, epsilon=0.2, beta=0.04, *,
               ratio_base="old", invert_ratio=False, surrogate="min", penalty="k3",
               penalty_sign=-1.0, lengths="own", outputs="mean", use_mask=True,
               fixed_epsilon=None, fixed_beta=None, sign=1.0):
    """J with one deliberate change (the mistakes students make), written plainly."""
    new, old, ref = _floats(logp_new), _floats(logp_old), _floats(logp_ref)
    real = _floats(mask) > 0 if use_mask else np.ones(new.shape, dtype=bool)
    eps = epsilon if fixed_epsilon is None else fixed_epsilon
    b = beta if fixed_beta is None else fixed_beta
    adv = _floats(advantages)[:, None]
    base = {"old": old, "ref": ref}[ratio_base]
    log_rho = np.where(real, new - base, 0.0)
    rho = np.exp(-log_rho if invert_ratio else log_rho)
    clipped = np.clip(rho, 1.0 - eps, 1.0 + eps)
    term = {"min": lambda: np.minimum(rho * adv, clipped * adv),
            "max": lambda: np.maximum(rho * adv, clipped * adv),
            "unclipped": lambda: rho * adv,
            "clipped": lambda: clipped * adv}[surrogate]()
    log_x = np.where(real, ref - new, 0.0)  # log(pi_ref / pi_theta)
    kl = {"k3": lambda: _k3_of(log_x),
          "k3_inverted": lambda: _k3_of(-log_x),
          "k1": lambda: -log_x}[penalty]()
    per_token = np.where(real, term + penalty_sign * b * kl, 0.0)
    count = real.sum(axis=1)
    per_output = {"own": lambda: per_token.sum(axis=1) / count,
                  "none": lambda: per_token.sum(axis=1),
                  "padded": lambda: per_token.sum(axis=1) / new.shape[1]}
    if lengths == "all_tokens":
        value = per_token.sum() / count.sum()
    else:
        values = per_output[lengths]()
        value = values.sum() if outputs == "sum" else values.mean()
    return sign * value


def _grpo_variant(text: str, **change) -> Variant:
    return (text, lambda *a: _grpo_like(*a, **change))


# Case A: one-token outputs with ratios 1.35, 0.61, 0.90 and 0.50, pi_ref = pi_theta
_GA_OLD = np.array([[-0.7], [-0.7], [-1.0], [-0.9]])
_GA_NEW = np.array([[-0.4], [-1.2], [-1.1], [-1.6]])
# Case B: lengths 3, 2 and 4, ratios within 0.9 .. 1.1 (no clipping), pi_ref = pi_theta on
# the real tokens; the padding holds numbers that change the result if they count
_GB_MASK = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
_GB_OLD = np.array([[-1.0, -0.5, -2.0, 4.0], [-0.3, -1.7, 4.0, 4.0], [-1.5, -0.8, -0.2, -1.1]])
_GB_NEW = np.array([[-0.9, -0.6, -1.9, -25.0], [-0.35, -1.8, -25.0, -25.0],
                    [-1.6, -0.7, -0.25, -1.0]])
_GB_REF = np.where(_GB_MASK == 1, _GB_NEW, 1.5)
# Case C: ratio 1 and zero advantages, so J is -beta times the averaged k3 penalty
_GC_NEW = np.array([[-0.5, -1.3, -0.9], [-2.0, -0.2, 3.0]])
_GC_REF = np.array([[-1.1, -0.6, -0.9], [-1.2, -0.7, -9.0]])
# Case D: everything at once, with epsilon = 0.3 and beta = 0.1 (not the defaults)
_GD_OLD = np.array([[-0.6, -1.4, 0.0], [-0.9, -0.3, -2.2]])
_GD_NEW = np.array([[-0.2, -1.5, -7.0], [-1.5, -0.25, -1.8]])
_GD_REF = np.array([[-0.5, -1.1, 2.0], [-1.2, -0.6, -2.0]])


def _grpo_exercise() -> Exercise:
    return Exercise(
        name="grpo_token_objective",
        reference=_grpo_reference,
        arg_names=("logp_new", "logp_old", "logp_ref", "advantages", "mask", "epsilon",
                   "beta"),
        default_features=(),
        variants=(
            _grpo_variant("your k3 ratio is upside down: GRPO's penalty uses x = pi_ref / "
                          "pi_theta = exp(logp_ref - logp_new) in x - log x - 1; with tokens "
                          "drawn from pi_theta only that ratio makes it an unbiased estimate "
                          "of KL(pi_theta || pi_ref)", penalty="k3_inverted"),
            _grpo_variant("your penalty is k1 = log(pi_theta / pi_ref), not k3: use "
                          "x - log x - 1 with x = pi_ref / pi_theta", penalty="k1"),
            _grpo_variant("you add the KL penalty instead of subtracting it: J is the "
                          "objective to maximise, so beta * k3 lowers it", penalty_sign=1.0),
            _grpo_variant("you divide by G but not by |o_i|: each output's sum over its "
                          "tokens must be divided by its own number of real tokens |o_i| "
                          "(the sum of its mask row)", lengths="none"),
            _grpo_variant("you sum over the G outputs: J averages them (the 1/G factor is "
                          "missing)", outputs="sum"),
            _grpo_variant("you average over all real tokens of the group at once; J first "
                          "averages each output over its own |o_i| tokens, then averages "
                          "the G outputs, so a short output weighs as much as a long one",
                          lengths="all_tokens"),
            _grpo_variant("you divide each output by the padded length T instead of its own "
                          "number of real tokens |o_i| = sum_t mask[i, t]", lengths="padded"),
            _grpo_variant("the padded positions (mask 0) count in your result: they may hold "
                          "any number and must be left out of every sum (and of |o_i|)",
                          use_mask=False),
            _grpo_variant("you clip the ratio but take no min: per token J uses "
                          "min(rho A, clip(rho, 1 - eps, 1 + eps) A)", surrogate="clipped"),
            _grpo_variant("you do not clip the ratio: per token J uses min(rho A, clip(rho, "
                          "1 - eps, 1 + eps) A)", surrogate="unclipped"),
            _grpo_variant("you take the max of rho A and clip(rho) A; the objective is "
                          "pessimistic: the min", surrogate="max"),
            _grpo_variant("your ratio rho is upside down: rho = pi_theta / pi_old = "
                          "exp(logp_new - logp_old)", invert_ratio=True),
            _grpo_variant("your ratio rho compares with pi_ref: the clipped ratio is "
                          "pi_theta / pi_old = exp(logp_new - logp_old), the policy over the "
                          "one that sampled the outputs; pi_ref only enters the KL penalty",
                          ratio_base="ref"),
            _grpo_variant("you returned the loss -J: the exercise asks for the objective J, "
                          "to maximise", sign=-1.0),
            _grpo_variant("your function ignores its epsilon argument (it clips at 0.2 "
                          "whatever epsilon is passed)", fixed_epsilon=0.2),
            _grpo_variant("your function ignores its beta argument (it uses 0.04 whatever "
                          "beta is passed)", fixed_beta=0.04),
        ),
        cases=(
            Case("four one-token outputs, ratios inside and outside the clip range, pi_ref = "
                 "pi_theta (no KL)", "core",
                 (_GA_NEW, _GA_OLD, _GA_NEW, np.array([1.0, 1.0, -0.5, -1.0]),
                  np.ones((4, 1)), 0.2, 0.04)),
            Case("outputs of 3, 2 and 4 real tokens with numbers in the padding; no clipping, "
                 "no KL on the real tokens", "core",
                 (_GB_NEW, _GB_OLD, _GB_REF, np.array([0.8, -1.2, 0.5]), _GB_MASK, 0.2, 0.04),
                 hints={"nan": ("the padding gave NaN: padded positions (mask 0) may hold any "
                                "number; replace them (np.where(mask, ..., 0)) before exp, and "
                                "leave them out of the sums"),
                        "inf": ("the padding made your result infinite: padded positions may "
                                "hold any number; leave them out before exponentiating")}),
            Case("ratio 1 and zero advantages, beta = 0.5: J is minus beta times the averaged "
                 "k3 penalty", "core",
                 (_GC_NEW, _GC_NEW, _GC_REF, np.array([0.0, 0.0]),
                  np.array([[1, 1, 1], [1, 1, 0]]), 0.2, 0.5)),
            Case("a group with everything at once, epsilon = 0.3 and beta = 0.1", "core",
                 (_GD_NEW, _GD_OLD, _GD_REF, np.array([1.3, -0.6]),
                  np.array([[1, 1, 0], [1, 1, 1]]), 0.3, 0.1)),
        ),
    )


# =======================================================================================
# Notebook 06, Exercise 1: the VAE's KL term, one value per row
# =======================================================================================


def _vae_like(mu, log_var, *, variance, log_variance, half=0.5, one=1.0, reduce="rows"):
    """-half * sum_j (one + log_variance - mu^2 - variance), reduced as students do."""
    mu, lv = _floats(mu), _floats(log_var)
    terms = -half * (one + log_variance(lv) - mu**2 - variance(lv))
    return {"rows": lambda: terms.sum(axis=-1),
            "all": lambda: terms.sum(),
            "batch_mean": lambda: terms.sum(axis=-1).mean(),
            "dims_mean": lambda: terms.mean(axis=-1),
            "axis0": lambda: terms.sum(axis=0)}[reduce]()


def _vae_variant(text: str, *, variance=np.exp, log_variance=lambda lv: lv, **change):
    return (text, lambda mu, lv: _vae_like(mu, lv, variance=variance,
                                           log_variance=log_variance, **change))


def _vae_exercise() -> Exercise:
    return Exercise(
        name="vae_kl",
        reference=closed_forms.diag_gaussian_kl_to_standard_normal,
        arg_names=("mu", "log_var"),
        default_features=(),
        variants=(
            _vae_variant("you used log_var as the variance: it is the LOG-variance "
                         "ln(sigma^2), so sigma^2 = exp(log_var) and ln(sigma^2) = log_var "
                         "itself (no further log)",
                         variance=lambda lv: lv, log_variance=np.log),
            _vae_variant("you read log_var as log(sigma), the log standard deviation "
                         "(sigma^2 = exp(2 log_var)): it is ln(sigma^2), so "
                         "sigma^2 = exp(log_var)",
                         variance=lambda lv: np.exp(2 * lv), log_variance=lambda lv: 2 * lv),
            _vae_variant("you used log_var as the standard deviation sigma: it is "
                         "ln(sigma^2), so sigma^2 = exp(log_var)",
                         variance=lambda lv: lv**2, log_variance=lambda lv: np.log(lv**2)),
            _vae_variant("you used sigma = exp(log_var / 2) where the formula has "
                         "sigma^2 = exp(log_var)", variance=lambda lv: np.exp(lv / 2)),
            _vae_variant("your KL is twice too large: the factor is -1/2", half=1.0),
            _vae_variant("your KL has the wrong sign: D = -1/2 sum_j (1 + ln sigma^2 - "
                         "mu^2 - sigma^2) is never negative", half=-0.5),
            _vae_variant("you forgot the 1 in -1/2 sum_j (1 + ln sigma^2 - mu^2 - sigma^2): "
                         "each latent dimension adds -1/2", one=0.0),
            ("you computed KL(N(0, I) || N(mu, sigma^2)), the prior first; the VAE term is "
             "KL(N(mu, sigma^2) || N(0, I)) = -1/2 sum_j (1 + ln sigma^2 - mu^2 - sigma^2)",
             lambda mu, lv: np.sum(0.5 * ((1 + _floats(mu) ** 2) / np.exp(_floats(lv))
                                          - 1 + _floats(lv)), axis=-1)),
            _vae_variant("you summed over the whole batch into one number: return one KL "
                         "per row (sum over the latent dimensions, axis=-1, only)",
                         reduce="all"),
            _vae_variant("you averaged the rows' KLs into one number: return one KL per "
                         "row, shape (n,)", reduce="batch_mean"),
            _vae_variant("you averaged over the latent dimensions: the KL of a diagonal "
                         "Gaussian sums them", reduce="dims_mean"),
            _vae_variant("you summed over the batch axis (axis=0): sum over the latent "
                         "dimensions, the last axis, to get one value per row",
                         reduce="axis0"),
        ),
        cases=(
            Case("three rows of two latent dimensions, positive log-variances", "core",
                 (np.array([[0.5, -1.0], [1.5, 0.2], [0.0, 0.8]]),
                  np.array([[0.4, 1.1], [0.9, 0.25], [1.6, 0.7]]))),
            Case("a row equal to the prior (mu = 0, log_var = 0: the answer is 0) and a "
                 "row with negative log-variances", "core",
                 (np.array([[0.0, 0.0, 0.0], [-0.7, 0.3, 1.2]]),
                  np.array([[0.0, 0.0, 0.0], [-1.5, -0.4, 0.3]])),
                 hints={"nan": ("log_var = 0 or a negative log_var gave NaN: log_var is "
                                "already ln(sigma^2) and can be any real number; "
                                "sigma^2 = exp(log_var), and do not take its log again"),
                        "inf": ("log_var = 0 gave an infinite value: log_var is "
                                "already ln(sigma^2); sigma^2 = exp(log_var)")}),
        ),
    )


# =======================================================================================
# Notebook 06, Exercise 2: the distillation loss
# =======================================================================================


def _kl_rows(logits_p, logits_q) -> np.ndarray:
    log_p, log_q = _log_softmax(_floats(logits_p), axis=-1), _log_softmax(_floats(logits_q),
                                                                          axis=-1)
    return np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)


def _distill_like(student, teacher, labels, temperature, alpha, *, scale="t2", order="teacher",
                  soft="kl", soften="divide", hard_temperature=False, swap_alpha=False,
                  hard_sign=-1.0, reduce=np.mean):
    """The distillation loss with one deliberate change, as students get it wrong."""
    z_s, z_t, t = _floats(student), _floats(teacher), float(temperature)
    y = np.asarray(labels, dtype=int)
    if soften == "divide":
        soft_s, soft_t = z_s / t, z_t / t
    elif soften == "multiply":
        soft_s, soft_t = z_s * t, z_t * t
    else:
        soft_s, soft_t = z_s, z_t
    first, second = (soft_t, soft_s) if order == "teacher" else (soft_s, soft_t)
    if soft == "kl":
        soft_term = _kl_rows(first, second)
    else:  # the soft cross-entropy -sum p_t log q_s: the KL plus the teacher's entropy
        soft_term = -np.sum(_softmax(first) * _log_softmax(second, axis=-1), axis=-1)
    soft_term = soft_term * {"t2": t**2, "t": t, "none": 1.0}[scale]
    hard_logits = z_s / t if hard_temperature else z_s
    hard = hard_sign * np.take_along_axis(_log_softmax(hard_logits, axis=-1), y[:, None],
                                          axis=-1)[:, 0]
    a = 1.0 - alpha if swap_alpha else alpha
    return reduce(a * soft_term + (1.0 - a) * hard)


def _distill_variant(text: str, **change) -> Variant:
    return (text, lambda *a: _distill_like(*a, **change))


_LARGE_LOGITS = ("large logits gave {what}: exp of a logit in the hundreds overflows "
                 "(exp(710) is inf) and a softmax can underflow to exactly 0, whose log is "
                 "-inf. Compute log-probabilities directly, z_i - max(z) - log(sum_j "
                 "exp(z_j - max(z))) (or special.logsumexp), never log(softmax)")


def _distill_exercise() -> Exercise:
    return Exercise(
        name="distillation_loss",
        reference=applications.distillation_loss,
        arg_names=("student_logits", "teacher_logits", "labels", "temperature", "alpha"),
        default_features=(),
        variants=(
            _distill_variant("the factor T^2 is missing from your soft term: the loss is "
                             "alpha T^2 KL(teacher || student) + (1 - alpha) CE; without T^2 "
                             "the soft term's gradient shrinks like 1/T^2", scale="none"),
            _distill_variant("your soft term is multiplied by T, not T^2", scale="t"),
            _distill_variant("your KL is the wrong way round: KL(softmax(z_s/T) || "
                             "softmax(z_t/T)). The soft term is KL(softmax(z_t/T) || "
                             "softmax(z_s/T)), the teacher first", order="student"),
            _distill_variant("your KL is the wrong way round (student first) and the factor "
                             "T^2 is missing: the soft term is T^2 KL(softmax(z_t/T) || "
                             "softmax(z_s/T))", order="student", scale="none"),
            _distill_variant("your soft term is the cross-entropy -sum p_t log q_s, not the "
                             "KL: it is too large by the teacher's entropy. Use "
                             "sum p_t (log p_t - log q_s)", soft="cross_entropy"),
            _distill_variant("your soft term does not divide the logits by T: the softened "
                             "distributions are softmax(z / T)", soften="none"),
            _distill_variant("you multiply the logits by T: the softened distributions are "
                             "softmax(z / T), divided", soften="multiply"),
            _distill_variant("your hard term uses the softened student logits z_s / T: the "
                             "cross-entropy with the labels is at temperature 1, "
                             "-log softmax(z_s)[y]", hard_temperature=True),
            _distill_variant("your weights are swapped: alpha multiplies the soft (KL) term and "
                             "1 - alpha the hard (label) term", swap_alpha=True),
            _distill_variant("your hard term has the wrong sign: the cross-entropy is "
                             "-log softmax(z_s)[y] >= 0", hard_sign=1.0),
            _distill_variant("you summed over the batch: the loss is the mean over the n "
                             "examples", reduce=np.sum),
            _distill_variant("your function returned one loss per example: return their mean, "
                             "one float", reduce=lambda values: values),
        ),
        cases=(
            Case("alpha = 1 (only the soft term), T = 2.5", "core",
                 (np.array([[1.0, -0.5, 2.0, 0.3], [0.2, 1.4, -1.1, 0.0]]),
                  np.array([[2.5, -1.0, 1.0, 0.0], [0.5, 2.2, -2.0, 0.4]]),
                  np.array([3, 1]), 2.5, 1.0)),
            Case("alpha = 0 (only the hard term), T = 2.5", "core",
                 (np.array([[0.3, 1.8, -0.7], [-1.2, 0.4, 0.9], [2.2, 0.1, -0.3]]),
                  np.array([[1.0, 0.5, -1.5], [-0.2, -0.6, 2.4], [1.7, 0.8, 0.0]]),
                  np.array([1, 0, 0]), 2.5, 0.0)),
            Case("both terms: alpha = 0.35, T = 1.8", "core",
                 (np.array([[0.6, -0.4, 1.1], [1.9, 0.2, -0.8], [-0.5, 0.1, 0.7]]),
                  np.array([[1.2, -1.0, 0.4], [0.9, 1.1, -1.6], [-1.4, 0.3, 2.0]]),
                  np.array([2, 0, 1]), 1.8, 0.35)),
            Case("logits in the hundreds (alpha = 0.7, T = 3)", "core",
                 (np.array([[-600.0, 850.0, 20.0], [300.0, -900.0, 750.0]]),
                  np.array([[900.0, -700.0, 0.0], [-50.0, 1100.0, 400.0]]),
                  np.array([1, 0]), 3.0, 0.7),
                 hints={"nan": _LARGE_LOGITS.format(what="NaN"),
                        "inf": _LARGE_LOGITS.format(what="an infinite loss"),
                        "value": ("your loss is wrong only for large logits: compute "
                                  "log-probabilities directly (shift by the maximum) rather "
                                  "than the log of a softmax, and do not clip probabilities "
                                  "by a small epsilon")}),
        ),
    )


# =======================================================================================
# Notebook 06, Exercise 3: the gradient of the scaled soft term
# =======================================================================================


def _gradient_like(student, teacher, temperature, *, factor="t", soften=True, axis=-1,
                   sign=1.0):
    t = float(temperature)
    z_s, z_t = _floats(student), _floats(teacher)
    if soften:
        z_s, z_t = z_s / t, z_t / t
    gap = _softmax(z_s, axis=axis) - _softmax(z_t, axis=axis)
    return sign * gap * {"t": t, "1/t": 1.0 / t, "t2": t**2, "none": 1.0}[factor]


def _gradient_variant(text: str, **change) -> Variant:
    return (text, lambda *a: _gradient_like(*a, **change))


def _gradient_exercise() -> Exercise:
    return Exercise(
        name="soft_target_gradient",
        reference=applications.distillation_soft_gradient,
        arg_names=("student_logits", "teacher_logits", "temperature"),
        default_features=(),
        variants=(
            _gradient_variant("your gradient has the wrong sign: it is T (q_s - p_t), the "
                              "student's softened probabilities minus the teacher's", sign=-1.0),
            _gradient_variant("your gradient is (q_s - p_t) / T, the gradient of the KL "
                              "without the factor T^2: the scaled soft term T^2 KL has "
                              "gradient T^2 (q_s - p_t) / T = T (q_s - p_t)", factor="1/t"),
            _gradient_variant("your gradient is T^2 (q_s - p_t): differentiating "
                              "softmax(z_s / T) brings a factor 1/T, so T^2 KL has gradient "
                              "T (q_s - p_t)", factor="t2"),
            _gradient_variant("your gradient is q_s - p_t without the factor T: the scaled "
                              "soft term T^2 KL has gradient T (q_s - p_t)", factor="none"),
            _gradient_variant("your softmaxes are not softened: q_s = softmax(z_s / T) and "
                              "p_t = softmax(z_t / T)", soften=False),
            _gradient_variant("your softmax normalises down the columns (over the batch): "
                              "each row (example) is a distribution over the k classes, so "
                              "normalise along the last axis", axis=0),
        ),
        cases=(
            Case("a batch of two examples, three classes, T = 1.5", "core",
                 (np.array([[0.4, -1.2, 2.1], [1.0, 0.0, -0.6]]),
                  np.array([[1.5, -0.3, 0.2], [-0.8, 0.9, 0.4]]), 1.5)),
            Case("one example, five classes, high temperature T = 12", "core",
                 (np.array([[1.0, -2.0, 0.5, 3.0, -2.5]]),
                  np.array([[-1.0, 2.0, 0.0, 1.5, -2.5]]), 12.0)),
        ),
    )


# =======================================================================================
# Notebook 06, Exercise 4: the ELBO of the conjugate Gaussian model
# =======================================================================================


def _elbo_like(m, s, x, noise_sd, *, q_var=None, noise_var=None, entropy=1.0, with_e=True,
               spread=True, average=False, prior=True, reverse_kl=False, sign=1.0):
    """The closed-form ELBO with one deliberate change (z ~ N(0, 1), x_i | z ~ N(z, sd^2))."""
    obs = np.atleast_1d(_floats(x))
    var_q = s**2 if q_var is None else q_var(s)
    var_x = noise_sd**2 if noise_var is None else noise_var(noise_sd)
    extra = var_q if spread else 0.0
    log_lik = -0.5 * np.log(2 * np.pi * var_x) - ((obs - m) ** 2 + extra) / (2 * var_x)
    log_lik = log_lik.mean() if average else log_lik.sum()
    if reverse_kl:  # E[log lik] - KL(N(0, 1) || q)
        kl = 0.5 * ((1 + m**2) / var_q - 1 + np.log(var_q))
        return sign * (log_lik - kl)
    log_prior = (-0.5 * np.log(2 * np.pi) - (m**2 + extra) / 2) if prior else 0.0
    h_q = 0.5 * np.log(2 * np.pi * var_q) + (0.5 if with_e else 0.0)
    return sign * (log_lik + log_prior + entropy * h_q)


def _elbo_variant(text: str, **change) -> Variant:
    return (text, lambda *a: _elbo_like(*a, **change))


def _elbo_exercise() -> Exercise:
    return Exercise(
        name="elbo_gaussian",
        reference=applications.elbo,
        arg_names=("m", "s", "x", "noise_sd"),
        default_features=(),
        variants=(
            _elbo_variant("your result is -ELBO (the loss a VAE minimises): the exercise asks "
                          "for the ELBO itself, which is <= log p(x)", sign=-1.0),
            _elbo_variant("you used s as the variance of q: s is its STANDARD DEVIATION, so "
                          "q has variance s^2 (in E_q[(x_i - z)^2], E_q[z^2] and the entropy)",
                          q_var=lambda s: s),
            _elbo_variant("you used noise_sd as the variance of the observations: it is a "
                          "standard deviation, so x_i | z has variance noise_sd^2",
                          noise_var=lambda sd: sd),
            _elbo_variant("your ELBO has no entropy term: add ln(s sqrt(2 pi e)), the "
                          "entropy of q", entropy=0.0),
            _elbo_variant("you subtract the entropy of q: the ELBO adds it, "
                          "+ ln(s sqrt(2 pi e))", entropy=-1.0),
            _elbo_variant("your entropy misses the e: the entropy of N(m, s^2) is "
                          "ln(s sqrt(2 pi e)) = 1/2 ln(2 pi s^2) + 1/2", with_e=False),
            _elbo_variant("you left out the + s^2 of the expectations: E_q[(x_i - z)^2] = "
                          "(x_i - m)^2 + s^2 and E_q[z^2] = m^2 + s^2 (z varies under q)",
                          spread=False),
            _elbo_variant("you averaged the expected log-likelihood over the observations: "
                          "the ELBO sums it over all x_i", average=True),
            _elbo_variant("your ELBO has no prior term: add E_q[log N(z; 0, 1)] = "
                          "-1/2 ln(2 pi) - (m^2 + s^2) / 2", prior=False),
            _elbo_variant("you subtracted KL(prior || q) from the expected log-likelihood: "
                          "the ELBO subtracts KL(q || prior), q first", reverse_kl=True),
        ),
        cases=(
            Case("four observations (a list), noise_sd = 0.8, q = N(0.3, 0.45^2)", "core",
                 (0.3, 0.45, [0.5, -0.3, 1.1, 0.8], 0.8)),
            Case("one observation (an array of one), noise_sd = 2, q = N(-0.6, 1.7^2)", "core",
                 (-0.6, 1.7, np.array([-1.4]), 2.0)),
        ),
    )


# =======================================================================================
# Notebook 06, Exercise 5: coding cost in bits
# =======================================================================================


def _cross_entropy_nats(p, q) -> np.ndarray:
    p, q = _floats(p), _floats(q)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, q, 1.0)), 0.0))


def _entropy_nats(p) -> np.ndarray:
    return _cross_entropy_nats(p, p)


def _coding_reference(p, q):
    return applications.expected_code_length_bits(p, applications.ideal_code_lengths_bits(q))


def _coding_exercise() -> Exercise:
    return Exercise(
        name="coding_cost_bits",
        reference=_coding_reference,
        arg_names=("p", "q"),
        default_features=(),
        variants=(
            ("your result is in nats: the cost in bits uses log2 (or divide the nats by "
             "ln 2)", lambda p, q: _cross_entropy_nats(p, q)),
            ("your result uses log base 10: code lengths in bits are -log2 q_i",
             lambda p, q: _cross_entropy_nats(p, q) / _LN10),
            ("your arguments are swapped: the symbols come from p, the code was built for q, "
             "so the cost is -sum_i p_i log2 q_i (p weights, q inside the log)",
             lambda p, q: _cross_entropy_nats(q, p) / _LN2),
            ("you computed KL(p || q) in bits, the EXTRA cost over the best code for p; the "
             "coding cost is the whole H(p, q) = H(p) + KL(p || q)",
             lambda p, q: (_cross_entropy_nats(p, q) - _entropy_nats(p)) / _LN2),
            ("you computed the entropy H(p), the cost of the code built for p itself; this "
             "code was built for q: -sum_i p_i log2 q_i", lambda p, q: _entropy_nats(p) / _LN2),
            ("your cost is negative: code lengths are -log2 q_i >= 0, so the cost is "
             "-sum_i p_i log2 q_i", lambda p, q: -_cross_entropy_nats(p, q) / _LN2),
            ("you forgot the weights p_i: the average length is sum_i p_i (-log2 q_i), not "
             "the sum of the lengths", lambda p, q: -np.sum(np.log2(_floats(q)))),
            ("you rounded the code lengths up to whole bits (a Shannon code, "
             "ceil(-log2 q_i)); the exercise asks for the ideal lengths -log2 q_i",
             lambda p, q: float(np.sum(_floats(p) * np.ceil(-np.log2(_floats(q)))))),
        ),
        cases=(
            Case("a typical pair of distributions (lists)", "core",
                 ([0.4, 0.1, 0.3, 0.2], [0.25, 0.25, 0.125, 0.375])),
            Case("symbols with p_i = 0, one of them with q_i = 0 too (they cost nothing)",
                 "core", ([0.0, 0.6, 0.4, 0.0], [0.0, 0.5, 0.3, 0.2]),
                 hints={"nan": ("a symbol with p_i = 0 gave NaN: 0 * log2(0) is 0 * -inf = "
                                "nan in floating point, but a symbol that never occurs costs "
                                "nothing. Keep only the symbols with p_i > 0"),
                        "inf": ("you returned +inf because some q_i = 0, but that symbol has "
                                "p_i = 0 and never occurs: it costs nothing. Only q_i = 0 < p_i "
                                "makes the cost infinite")}),
            Case("q_i = 0 < p_i: the code has no word for a symbol that occurs (math.inf)",
                 "core", ([0.25, 0.25, 0.5], [0.5, 0.5, 0.0]),
                 variants=(("you skipped the symbols with q_i = 0, but this one occurs "
                            "(p_i > 0): the code has no word for it, so the cost is math.inf",
                            lambda p, q: -np.sum(_floats(p)[:2] * np.log2(_floats(q)[:2]))),),
                 hints={"finite": ("q_i = 0 < p_i must give math.inf: the code has no word "
                                   "for a symbol that occurs. A finite answer usually means q "
                                   "was clipped by a small epsilon or the symbol was skipped"),
                        "nan": ("q_i = 0 < p_i gave NaN, but it must give math.inf; test for "
                                "this case before combining the terms")}),
        ),
    )


# =======================================================================================
# Registration: the exercises, and the check each graded function gets
# =======================================================================================

_NOTEBOOK_05 = (_k1_exercise, _k2_exercise, _k3_exercise, _ppo_exercise, _adapt_exercise,
                _training_exercise, _group_exercise, _grpo_exercise)
_NOTEBOOK_06 = (_vae_exercise, _distill_exercise, _gradient_exercise, _elbo_exercise,
                _coding_exercise)

for _assignment, _makers in (("05_rl", _NOTEBOOK_05), ("06_applications", _NOTEBOOK_06)):
    for _make in _makers:
        _exercise = _make()
        _register(_exercise)
        # the notebooks' check cells call check(func) with no options
        register_graded(_assignment, _exercise.name)
