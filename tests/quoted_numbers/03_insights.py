"""03_insights: the numbers its text quotes (see README.md here)."""

# %% after code-length
# dyadic P: entropy 1/2 + 2/4 + 3/8 + 3/8 = 1.75 bits, and D(P || uniform) = 2 - 1.75 bits
assert math.isclose(klh.entropy(p_dyadic, base=2), 1.75) and math.isclose(kl_bits, 0.25)
# the printed cross-entropy, by hand: every code word of the uniform code has 2 bits
assert math.isclose(-np.sum(p_dyadic * np.log2(q_uniform)), 2.0)
assert math.isclose(klh.cross_entropy(p_dyadic, q_uniform, base=2), 2.0)

# %% after small-diff
# myth 1's numbers
for delta in (0.1, 0.01, 0.001):
    kl_small = klh.kl_divergence([0.5, 0.5], [0.5 + delta, 0.5 - delta])
    # exact value for this pair, -1/2 ln(1 - 4 delta^2), and the quadratic law D ~ 2 delta^2
    assert math.isclose(kl_small, -0.5 * math.log1p(-4 * delta**2), rel_tol=1e-9)
    assert 0 < kl_small / (2 * delta**2) - 1 < 2.5 * delta**2

# %% after eps-figure
# the curves against the closed forms 0.5 ln(0.5 / (1 - e)) + 0.5 ln(0.5 / e) and, the other
# way round, (1 - e) ln(2 (1 - e)) + e ln(2 e), with log1p for the 1 - e
e = eps_grid
forward_by_hand = 0.5 * (math.log(0.5) - np.log1p(-e)) + 0.5 * (math.log(0.5) - np.log(e))
backward_by_hand = (1 - e) * (math.log(2) + np.log1p(-e)) + e * np.log(2 * e)
assert np.allclose(forward_curve, forward_by_hand, rtol=1e-12, atol=0.0)
assert np.allclose(backward_curve, backward_by_hand, rtol=1e-9, atol=1e-15)
# the values the recap and the quick check quote (02 computes the first three again)
rare_in_q = [klh.kl_divergence(p_fair, [1 - e, e]) for e in (1e-3, 1e-6, 1e-12, 0.0)]
assert [f"{v:.2f}" for v in rare_in_q] == ["2.76", "6.21", "13.12", "inf"]
rare_in_p = [klh.kl_divergence([1 - e, e], p_fair) for e in (1e-3, 1e-12, 0.0)]
assert f"{rare_in_p[0]:.3f}" == "0.685" and abs(rare_in_p[1] - math.log(2)) < 1e-10
assert rare_in_p[2] == math.log(2)  # at eps = 0 the rare outcome is simply absent
assert math.isclose(0.5 * math.log(500) + 0.5 * math.log(0.5 / 0.999), rare_in_q[0], rel_tol=1e-12)
# the caption: the blue line is about 1/2 ln(1/e) - ln 2 and rises 1/2 ln 10 = 1.15 nats per decade
small = eps_grid < 1e-6
assert np.allclose(forward_curve[small], 0.5 * np.log(1 / eps_grid[small]) - math.log(2), atol=1e-6)
assert f"{0.5 * math.log(10):.2f}" == "1.15"
slope = np.polyfit(np.log10(eps_grid[small]), forward_curve[small], 1)[0]
assert math.isclose(slope, -0.5 * math.log(10), rel_tol=1e-6)

# %% after gibbs-check
# the first link of the chain, term by term: p ln(q/p) summed over the support
with np.errstate(divide="ignore", invalid="ignore"):
    first_link = np.sum(np.where(support, gibbs_p * np.log(gibbs_q / gibbs_p), 0.0), axis=1)
assert np.allclose(first_link, minus_kl, rtol=1e-9, atol=1e-15)
# the quick check after it: an unnormalised Q = 2P gives -ln 2, below zero
running_p = np.array([0.4, 0.3, 0.2, 0.1])
assert math.isclose(special.rel_entr(running_p, 2 * running_p).sum(), -math.log(2), rel_tol=1e-12)
assert f"{-math.log(2):.3f}" == "-0.693"

# %% after logsumexp-demo
# log p(50) in closed form: log 0.5 - log(2 pi) / 2 - 47^2 / 2 + log(1 + exp(-(53^2 - 47^2) / 2))
log_p_far = (math.log(0.5) - 0.5 * math.log(2 * math.pi) - 47**2 / 2
             + math.log1p(math.exp(-(53**2 - 47**2) / 2)))
assert naive == -np.inf and math.isclose(stable, log_p_far, rel_tol=1e-13)
assert [f"{a:.0f}" for a in component_logpdf] == ["-1405", "-1105"]

# %% after fits
# a derivative-free minimisation of the forward objective reaches moment matching
nm = optimize.minimize(lambda th: fitting.forward_kl_gaussian_fit(th[0], math.exp(th[1]), *mixture),
                       [1.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-13})
assert np.allclose([nm.x[0], math.exp(nm.x[1])], [0.0, math.sqrt(10)], atol=1e-5)
# quad for the reverse KL at the optimum; mirror symmetry of the two reverse fits
mu_r, sigma_r = reverse_fit_right
kl_quad = integrate.quad(
    lambda x: stats.norm.pdf(x, mu_r, sigma_r)
    * (stats.norm.logpdf(x, mu_r, sigma_r) - fitting.mixture_logpdf(x, *mixture)),
    mu_r - 15 * sigma_r, mu_r + 15 * sigma_r)[0]
assert abs(kl_quad - kl_at_mode) < 1e-8
assert np.allclose(reverse_fit_left, [-mu_r, sigma_r], atol=1e-6)
assert (f"{mu_r:.2f}", f"{sigma_r:.2f}", f"{kl_at_mode:.3f}") == ("2.98", "1.02", "0.689")
# forward KL at N(3, 1) by quad, independently of the reference's closed-form cross-entropy
kl_missed_quad = integrate.quad(
    lambda x: math.exp(fitting.mixture_logpdf(x, *mixture))
    * (fitting.mixture_logpdf(x, *mixture) - stats.norm.logpdf(x, 3.0, 1.0)),
    -20.0, 20.0, points=[-3.0, 3.0])[0]
assert abs(kl_missed_quad - kl_missed_mode) < 1e-8 and f"{kl_missed_mode:.2f}" == "8.31"
# Figure 3's caption: a reverse fit peaks about twice as high as p's mode
peak_ratio = stats.norm.pdf(mu_r, mu_r, sigma_r) / math.exp(fitting.mixture_logpdf(3.0, *mixture))
assert 1.9 < peak_ratio < 2.0
# the RL note: a policy equal to the reference restricted to a subset S (renormalised) has
# reverse KL -ln pi_ref(S); ln 2 when it keeps half the reference's probability
pi_ref = np.array([0.2, 0.3, 0.1, 0.4])
for keep in ([True, True, False, False], [False, True, False, True], [True, False, False, False]):
    pi_kept = np.where(keep, pi_ref, 0.0) / pi_ref[keep].sum()
    assert math.isclose(klh.kl_divergence(pi_kept, pi_ref), -math.log(pi_ref[keep].sum()))
assert math.isclose(-math.log(pi_ref[[True, True, False, False]].sum()), math.log(2))

# %% after landscape
# the grid surface agrees with the reference where they overlap
row, col = np.argmin(abs(sigma_axis - 1.0)), np.argmin(abs(mu_axis - 3.0))
assert abs(reverse_surface[row, col] - fitting.reverse_kl_gaussian_fit(3.0, 1.0, *mixture)) < 1e-9
# the centred point is a local minimum: every neighbour on a small cross is higher
for d_mu, d_sigma in [(0.05, 0.0), (-0.05, 0.0), (0.0, 0.05), (0.0, -0.05)]:
    neighbour = (centre_fit[0] + d_mu, centre_fit[1] + d_sigma)
    assert fitting.reverse_kl_gaussian_fit(*neighbour, *mixture) > kl_centre
assert abs(centre_fit[0]) < 1e-6
assert f"{centre_fit[1]:.2f}" == "2.74" and f"{kl_centre:.3f}" == "0.841"
assert np.allclose(ends[2], centre_fit, atol=1e-6) and np.allclose(ends[4], centre_fit, atol=1e-6)
assert np.allclose(ends[1], reverse_fit_right, atol=1e-6)
# Figure 4 draws real iterates: each recorded path starts at its start and ends at its fit
for start, path, end in zip(starts, paths, ends, strict=True):
    assert np.allclose(path[0], start, atol=1e-15) and np.allclose(path[-1], end, atol=1e-12)
# the caption: from (1, 1) the first step widens q to sigma = 2.3
assert f"{paths[2][1, 1]:.1f}" == "2.3" and paths[2][1, 1] > 2 * paths[2][0, 1]
# the colour bands separate the two kinds of minimum
assert 0.65 < kl_at_mode < 0.70 and 0.80 < kl_centre < 0.85

# %% after minimize-demo
# BFGS reached a stationary point, and the closed-form MLE is the sample mean and ddof=0 std
assert result.success and np.allclose([mu_hat, sigma_hat], [2.0, 0.5], atol=0.05)

# %% after mle
assert np.argmin(avg_nll) == np.argmin(kl_to_model)
# the grid minimiser of the forward KL is the closed-form MLE (grid step 0.001)
assert abs(theta_grid[np.argmin(kl_to_model)] - theta_mle) <= 0.0005 + 1e-12
# the reverse KL's minimiser is elsewhere
assert abs(theta_grid[np.argmin(kl_from_model)] - theta_mle) > 0.005
