"""05_rl: the numbers its text quotes (see README.md here)."""

# %% after chess
# both KLs against scipy's elementwise relative entropy, at the decimals the text quotes
assert math.isclose(kl_small, special.rel_entr(pi_old, pi_small).sum(), rel_tol=1e-12)
assert math.isclose(kl_reckless, special.rel_entr(pi_old, pi_reckless).sum(), rel_tol=1e-12)
assert f"{kl_small:.4f}" == "0.0013" and f"{kl_reckless:.4f}" == "1.4597"
assert f"{special.rel_entr(pi_reckless, pi_old).sum():.4f}" == "1.9329"
assert round(kl_reckless / kl_small, -3) == 1000  # "about a thousand times"

# %% after is-demo
# the quoted spreads, the weights 3.4 and 0.2, and "nearly doubles"
std_small, std_big = is_estimates["small update"].std(), is_estimates["big update"].std()
assert f"{std_small:.2f}" == "0.29" and f"{std_big:.2f}" == "0.54"
assert 1.7 < std_big / std_small < 2.0
assert math.isclose(0.85 / 0.25, 3.4) and math.isclose(0.05 / 0.25, 0.2)
# the exact spread of one batch's estimate: sqrt(Var_old[r A] / 8), summed by hand
for name, pi_new in updates.items():
    weighted = pi_new / pi_old_is * advantage_of
    exact_std = math.sqrt((pi_old_is @ weighted**2 - (pi_old_is @ weighted) ** 2) / 8)
    assert abs(is_estimates[name].std() / exact_std - 1) < 0.03, name
# quick check 1: Pinsker's inequality TV <= sqrt(KL / 2) caps the moved mass at 0.07 for
# delta = 0.01, and the ratio of an action with pi_old = 0.05 at about 2.4; the true cap on
# two actions (on a fine grid of new probabilities, scipy's rel_entr) is lower still
moved = math.sqrt(0.01 / 2)
assert f"{moved:.2f}" == "0.07" and f"{(0.05 + moved) / 0.05:.1f}" == "2.4"
p_grid = np.linspace(0.05, 0.5, 450_001)
kl_grid = special.rel_entr(0.05, p_grid) + special.rel_entr(0.95, 1 - p_grid)
largest_p = p_grid[kl_grid <= 0.01].max()
assert 0.086 < largest_p < 0.088  # a ratio of about 1.74
assert largest_p / 0.05 < (0.05 + moved) / 0.05

# %% after ppo-clip-figure
# spot checks of the drawn curve against the library, and the flat parts of Figure 1
for advantage in (1.0, -1.0):
    for r in ratios[1::40]:
        drawn = min(r * advantage, min(max(r, 0.8), 1.2) * advantage)
        assert math.isclose(rl.ppo_clip_objective([r], [advantage]), drawn, abs_tol=1e-12)
assert rl.ppo_clip_objective([1.5], [1.0]) == rl.ppo_clip_objective([1.2], [1.0])
assert math.isclose(rl.ppo_clip_objective([0.5], [-1.0]), -0.8)

# %% after ppo-klpen-demo
assert math.isclose(klpen, by_hand, rel_tol=1e-12)
assert math.isclose(ratio_batch[0], 4.0)  # 0.4 / 0.1, far outside [0.8, 1.2]
assert f"{klpen:.4f}" == "2.0893" and f"{other_direction:.4f}" == "2.0653"

# %% after adaptive-demo
# the rule written out by hand for these values: 0.002 and 0.004 are below 0.0067 (halve
# twice), 0.012 is in the band, 0.030 and 0.020 above 0.015 (double twice), then in the band
assert betas == [0.5, 0.25, 0.25, 0.5, 1.0, 1.0, 1.0]
assert f"{kl_target / 1.5:.4f}" == "0.0067" and f"{1.5 * kl_target:.3f}" == "0.015"

# %% after sampled-setup
assert f"{true_return(logits_old):.4f}" == "0.6050"  # (0.55 * best + 0.15 * rest), by hand:
assert math.isclose(true_return(logits_old),
                    np.mean(0.55 * success_probs.max(axis=1)
                            + 0.15 * (success_probs.sum(axis=1) - success_probs.max(axis=1))))
assert math.isclose(success_probs.max(axis=1).mean(), 0.8)

# %% after sampled-batch
# the notebook's sampler and advantages agree with the library's, on the same uniforms
check_rng = np.random.default_rng(183)
check_states = check_rng.integers(n_questions, size=12)
check_actions, check_rewards = rl.contextual_bandit_sample(
    pi_pretrained, success_probs, check_states, check_rng.random((12, 2)))
assert np.array_equal(check_states, states_b) and np.array_equal(check_actions, actions_b)
assert np.array_equal(check_rewards, rewards_b)
assert np.allclose(adv_b, rl.state_mean_advantages(states_b, rewards_b, n_questions))
# the direction is the surrogate's gradient: central finite differences


def _central_differences(function, x, step):
    """The gradient of a scalar ``function`` at array ``x``, one entry at a time."""
    gradient = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        bump = np.zeros_like(x)
        bump[index] = step
        gradient[index] = (function(x + bump) - function(x - bump)) / (2 * step)
    return gradient


assert np.allclose(_central_differences(surrogate, logits_old, 1e-6), direction, atol=1e-8)
# the quoted values of Figure 2 and its caption
assert f"{surrogate_gain[-1]:+.2f}" == "+0.53" and f"{true_gain[-1]:.3f}" == "-0.029"
assert f"{true_gain.max():.3f}" == "0.026" and round(step_sizes[true_gain.argmax()]) == 9
assert f"{kl_along[-1]:.2f}" == "2.34" and np.all(np.diff(surrogate_gain) > 0)
first_loss = step_sizes[np.argmax((true_gain < 0) & (step_sizes > 5))]
assert round(first_loss) == 23 and np.all(true_gain[step_sizes < 20] > 0)
# question 0: its one sample of the worst answer (p = 0.1) was rewarded, its best not drawn
on_q0 = states_b == 0
assert success_probs[0].argmin() == 3 and np.sum(on_q0 & (actions_b == 3)) == 1
assert rewards_b[on_q0 & (actions_b == 3)][0] == 1.0 and not np.any(actions_b[on_q0] == 0)

# %% after sampled-figure
assert f"{alpha_at_delta:.2f}" == "1.29"
before, after = step_sizes < alpha_at_delta, step_sizes >= alpha_at_delta
assert kl_along[before].max() <= delta < kl_along[after].min()

# %% after trpo-demo
# five halvings to alpha = 1, within delta, a positive true gain of 0.006
assert len(tries) == 6 and tries[-1][0] == 1.0 and tries[-1][1] <= 0.01
assert f"{tries[-1][3]:.3f}" == "0.006" and f"{tries[0][1]:.2f}" == "2.34"
# Exercise 3 (b)'s hint: at alpha = 2 the mean KL is 0.0245, and one epoch of the reference
# trainer (beta = 1, learning rate 2) on section 4's batch is that step; beta then doubles
assert tries[4][0] == 2.0 and f"{tries[4][1]:.4f}" == "0.0245"
hint_rng = np.random.default_rng(183)
hint_row = rl.ppo_kl_penalty_training(logits_old, success_probs, hint_rng.integers(3, size=(1, 12)),
                                      hint_rng.random((1, 12, 2)), 1.0, 0.01, 2.0, 1)[0]
assert math.isclose(hint_row[0], tries[4][1], rel_tol=1e-9) and hint_row[1] == 2.0
assert math.isclose(hint_row[2], true_return(logits_old + 2.0 * direction), rel_tol=1e-12)
# the same line search by the library: one row per sample (its state's logits), and a table
# W with W[t, a_t] = A_t / pi_old(a_t | s_t), so that mean_t sum_a pi(a|s_t) W[t, a] = L
table = np.zeros((states_b.size, n_answers))
table[np.arange(states_b.size), actions_b] = adv_b / pi_pretrained[states_b, actions_b]
library_step = rl.trpo_backtracking_step(logits_old[states_b], 32.0 * direction[states_b],
                                         table, max_kl=0.01, shrink=0.5)
assert library_step["accepted"] and library_step["n_backtracks"] == 5
for (alpha, kl, gain, _), (fraction, kl_lib, gain_lib) in zip(tries, library_step["tried"],
                                                              strict=True):
    assert math.isclose(alpha, 32.0 * fraction)
    assert math.isclose(kl, kl_lib, rel_tol=1e-9) and math.isclose(gain, gain_lib, rel_tol=1e-9)
# Exercise 1 (d)'s answer: k1 and k3 of the accepted update over the batch's 12 samples,
# written out with numpy (q = pi_old drew the samples, r = pi_theta / pi_old)
log_r_d = (np.log(softmax_rows(logits_trpo)[states_b, actions_b])
           - np.log(pi_pretrained[states_b, actions_b]))
k1_d, k3_d = -log_r_d, np.expm1(log_r_d) - log_r_d
assert np.allclose(k1_d, rl.k1_estimator(log_r_d)) and np.allclose(k3_d, rl.k3_estimator(log_r_d))
assert f"{mean_kl(pi_pretrained, logits_trpo, states_b):.4f}" == "0.0063"
assert f"{k3_d.mean():.3f}" == "0.011" and f"{k1_d.mean():.3f}" == "0.057"
assert int(np.sum(k1_d < 0)) == 5 and k1_d.size == 12

# %% after trpo-many
# "about one batch in ten" for the full step, less often for the accepted one (as printed)
assert f"{np.mean(gains_full < 0):.1%}" == "9.8%"
assert f"{np.mean(gains_accepted < 0):.1%}" == "6.3%"
assert f"{gains_full[gains_full < 0].mean():.2f}" == "-0.03"
assert f"{gains_full.min():.2f}" == "-0.13"
assert f"{gains_accepted[gains_accepted < 0].mean():.3f}" == "-0.006"
assert f"{gains_accepted.min():.2f}" == "-0.02"
assert gains_full.mean() > gains_accepted.mean() > 0  # the long step gains more on average

# %% after loop-demo
clipped = [loop_runs[0.2, run] for run in range(3)]
unclipped = [loop_runs[np.inf, run] for run in range(3)]
assert all(0.785 <= returns[-1] < 0.8 for returns, _ in clipped)  # "about 0.79"
assert max(kls.max() for _, kls in clipped) < 0.09
assert sum(kls.max() > 3 for _, kls in unclipped) == 2
# run 0 falls to 0.44 and stays below the old policy's return for 25 iterations; run 1 is stuck
# at 0.733 (it moves by less than 0.004 over the last 20 iterations); run 2 reaches 0.798
assert int(np.sum(unclipped[0][0] < true_return(logits_old))) == 25
assert true_return(logits_old) < unclipped[0][0][-1] < 0.75  # "before it partly recovers"
assert f"{unclipped[1][0][-1]:.3f}" == "0.733" and np.ptp(unclipped[1][0][10:]) < 0.004
assert f"{unclipped[2][0][-1]:.3f}" == "0.798"
assert f"{min(returns.min() for returns, _ in unclipped):.2f}" == "0.44"
# with the clip the loop's gradient is the library's clipped objective's: finite differences
# of mean_t min(r A, clip(r) A) on one batch at a point inside and outside the clip range
fd_rng = np.random.default_rng(3)
s_fd, a_fd, r_fd = collect_batch(pi_pretrained, 24, fd_rng)
adv_fd = batch_advantages(s_fd, r_fd)
theta_fd = logits_old + fd_rng.normal(0.0, 0.3, logits_old.shape)
pi_fd = softmax_rows(theta_fd)
ratio_fd = pi_fd[s_fd, a_fd] / pi_pretrained[s_fd, a_fd]
active_fd = np.where(adv_fd > 0, ratio_fd < 1.2, ratio_fd > 0.8)
grad_fd = np.zeros_like(theta_fd)
np.add.at(grad_fd, s_fd, (active_fd * ratio_fd * adv_fd)[:, None]
          * (np.eye(n_answers)[a_fd] - pi_fd[s_fd]))
grad_fd /= 24


def clip_objective(theta):
    pi = softmax_rows(theta)
    return rl.ppo_clip_objective(pi[s_fd, a_fd] / pi_pretrained[s_fd, a_fd], adv_fd)


# _central_differences: defined in the block after sampled-batch, same kernel
assert np.allclose(_central_differences(clip_objective, theta_fd, 1e-7), grad_fd, atol=1e-6)

# %% after estimators-table
for mu in (0.1, 1.0):
    for name in estimators:
        exact = rl.gaussian_estimator_moments(mu)[name][1] / (mu**2 / 2)
        assert abs(table[mu, name][2] / exact - 1) < 0.03  # sampled std within 3%
# checks against the closed forms: unbiased k1 and k3, k2's bias mu^2 / 4, k1's std 2 / mu
for mu in (0.1, 1.0):
    for name in ("k1", "k3"):
        bias, stderr, _ = table[mu, name]
        assert abs(bias) < 4 * stderr, (mu, name)
    bias, stderr, _ = table[mu, "k2"]
    assert abs(bias - mu**2 / 4) < 4 * stderr
    assert abs(table[mu, "k1"][2] - 2 / mu) < 0.01 * 2 / mu
assert table[1.0, "k2"][0] > 100 * table[1.0, "k2"][1]  # the bias is far beyond the noise
assert f"{table[0.1, 'k1'][2]:.0f}" == "20" and f"{table[0.1, 'k3'][2]:.2f}" == "1.42"
assert f"{table[1.0, 'k2'][0]:.2f}" == "0.25"
assert round((table[0.1, "k1"][2] / table[0.1, "k3"][2]) ** 2, -2) == 200  # sample-size factor

# %% after estimators-figure
assert [f"{at_two[name]:.2f}" for name in ("k1", "k2", "k3")] == ["1.00", "2.45", "3.52"]
assert f"{exact_rel_std['k3'][0]:.2f}" == "1.41"  # sqrt(2) as mu -> 0
# the sampled points agree with the closed forms within their error bars (plus 2% for k3's tail)
for name in estimators:
    for mu, (mean, bar) in zip(mus, sampled[name], strict=True):
        exact = rl.gaussian_estimator_moments(mu)[name][1] / (mu**2 / 2)
        assert abs(mean - exact) < bar + 0.02 * exact, (name, mu)

# %% after estimators-direction
assert abs(k3_right.mean() - kl_theta_ref) < 4 * stderr_right
# the upside-down ratio estimates neither direction: its mean is sum(theta^2/ref) - 1 - KL
exact_upside_down = np.sum(pi_theta**2 / pi_ref) - 1 - kl_theta_ref
assert abs(k3_upside_down.mean() - exact_upside_down) < 4 * k3_upside_down.std() / math.sqrt(
    tokens.size)
assert f"{kl_theta_ref:.4f}" == "0.0965" and f"{exact_upside_down:.4f}" == "0.1077"
assert f"{kl_ref_theta:.4f}" == "0.0952"

# %% after errata-06c5b514
assert np.allclose(exact_mean["k1"], 0.0, atol=1e-15)
assert np.allclose(exact_mean["k2"], grad_theta_ref, rtol=1e-12, atol=1e-15)
assert np.allclose(exact_mean["k3"], grad_ref_theta, rtol=1e-12, atol=1e-15)
for name, target in (("k1", 0.0), ("k2", grad_theta_ref), ("k3", grad_ref_theta)):
    standard_errors = sampled_grads[name].std(axis=0, ddof=1) / math.sqrt(tokens.size)
    assert np.all(np.abs(sampled_grads[name].mean(axis=0) - target) < 5 * standard_errors)


# independent check of the two KL gradients: central finite differences of the divergences
def kl_both_ways(z):
    pi_z = np.exp(z - special.logsumexp(z))
    return special.rel_entr(pi_z, pi_ref).sum(), special.rel_entr(pi_ref, pi_z).sum()


numeric = np.array([(np.array(kl_both_ways(logits_theta + 1e-6 * e))
                     - np.array(kl_both_ways(logits_theta - 1e-6 * e))) / 2e-6 for e in np.eye(5)])
assert np.allclose(numeric[:, 0], grad_theta_ref, atol=1e-8)
assert np.allclose(numeric[:, 1], grad_ref_theta, atol=1e-8)
assert f"{gap:.4f}" == "0.0105"

# %% after grpo-sequence-ratio
assert math.isclose(sequence_ratio, math.exp(length * math.log(per_token_ratio)), rel_tol=1e-12)
assert f"{sequence_ratio:.1f}" == "131.5"

# %% after grpo-advantages
# independent check with plain Python
mean_r = sum(rewards_group) / 6
pop_std = math.sqrt(sum((x - mean_r) ** 2 for x in rewards_group) / 6)
assert np.allclose(adv_population, [(x - mean_r) / pop_std for x in rewards_group])
assert np.allclose(adv_sample, adv_population * math.sqrt(5 / 6))
assert f"{adv_population[0]:.4f}" == "1.4142" and f"{adv_sample[0]:.4f}" == "1.2910"
assert np.all(rl.group_advantages([1.0, 1.0, 1.0, 1.0]) == 0.0)
assert math.isclose(adv_population[1], -adv_population[0] / 2)  # "minus half of that"
# Exercise 4 (b)'s answer: with k of G correct, sqrt((G - k) / k) and -sqrt(k / (G - k))
for G_b, k_b in ((6, 2), (64, 1), (5, 3)):
    group_b = np.array([1.0] * k_b + [0.0] * (G_b - k_b))
    adv_b4 = rl.group_advantages(group_b)
    assert math.isclose(adv_b4[0], math.sqrt((G_b - k_b) / k_b), rel_tol=1e-12)
    assert math.isclose(adv_b4[-1], -math.sqrt(k_b / (G_b - k_b)), rel_tol=1e-12)
assert f"{math.sqrt(63):.2f}" == "7.94" and f"{1 / math.sqrt(63):.3f}" == "0.126"
assert f"{math.sqrt(1 / 2):.4f}" == "0.7071"

# %% after grpo-worked
assert math.isclose(j_grpo, j_loops, rel_tol=1e-12)
assert math.isclose(j_grpo_doubled, j_grpo, rel_tol=1e-12)
assert math.isclose(j_wiki_doubled, 2 * j_wiki, rel_tol=1e-12)
assert f"{j_grpo:.4f}" == "-0.0292" and f"{j_wiki:.4f}" == "0.0464"

# %% after bandit-train
# the loop written out in the notebook is the library's reference trainer, step for step
for beta in betas_bandit:
    reference = rl.train_bandit_policy(arm_rewards, ref_policy, beta, steps=1000,
                                       learning_rate=5.0)
    assert np.allclose(runs[beta]["expected_reward"], reference["expected_reward"], atol=1e-9)
    assert np.allclose(runs[beta]["kl_to_ref"], reference["kl_to_ref"], atol=1e-9)
    assert np.allclose(runs[beta]["probs"], reference["probs"], atol=1e-9)
# the trained policies match the closed form (beta > 0), computed independently with scipy
for beta in (0.05, 0.5):
    assert np.allclose(runs[beta]["probs"],
                       special.softmax(np.log(ref_policy) + arm_rewards / beta), atol=1e-4)
# and its limits: beta -> inf gives the reference, beta = 0 the best arm
assert np.allclose(rl.bandit_optimal_policy(arm_rewards, ref_policy, 1e6), ref_policy, atol=1e-6)
assert runs[0.0]["probs"][4] > 0.99
assert f"{runs[0.0]['kl_to_ref'][-1]:.2f}" == "2.29" and f"{math.log(10):.2f}" == "2.30"
assert f"{runs[0.05]['probs'][4]:.2f}" == "0.86" and f"{runs[0.5]['probs'][4]:.2f}" == "0.14"
assert f"{runs[0.5]['kl_to_ref'][-1]:.4f}" == "0.0089"
