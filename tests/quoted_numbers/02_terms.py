"""02_terms: the numbers its text quotes (see README.md here)."""

# %% after pq
# both are distributions, summed exactly (fsum) rather than with numpy's rounding
assert math.isclose(math.fsum(p_wiki), 1.0) and math.isclose(math.fsum(q_wiki), 1.0)

# %% after ratio
# 0.4/0.3, 0.3/0.3, 0.2/0.3, 0.1/0.1 as fractions
assert np.allclose(ratio, [4 / 3, 1.0, 2 / 3, 1.0])

# %% after log
assert math.log(2) == -math.log(0.5) and f"{math.log(2):.3f}" == "0.693"
# the quoted log-ratios, against the closed forms log(4/3) and log(2/3)
assert [f"{v:+.4f}" for v in log_ratio] == ["+0.2877", "+0.0000", "-0.4055", "+0.0000"]
assert np.allclose(log_ratio, [math.log(4 / 3), 0.0, math.log(2 / 3), 0.0], rtol=1e-12, atol=0)

# %% after additivity
assert (f"{kl_one:.4f}", f"{kl_pair:.4f}") == ("0.0340", "0.0680")
# the pair divergence by a plain loop over the 16 pairs, without rel_entr
pair_loop = sum(p_wiki[i] * p_wiki[j] * math.log(p_wiki[i] * p_wiki[j] / (q_wiki[i] * q_wiki[j]))
                for i in range(4) for j in range(4))
assert math.isclose(kl_pair, pair_loop, rel_tol=1e-12)

# %% after log-scale
# the quoted log distances: ln 2 for both factor-2 pairs, ln(401/400) for the small step
assert math.isclose(math.log(0.002) - math.log(0.001), math.log(2), rel_tol=1e-12)
assert f"{math.log(2):.4f}" == "0.6931" and f"{math.log(401 / 400):.4f}" == "0.0025"
# log(1 + h) = h - h^2/2 + h^3/3 - ...: the next term is ~3e-7 at h = 0.01
assert abs(near_one - (0.01 - 0.01**2 / 2)) < 1e-6 and f"{near_one:.5f}" == "0.00995"
# the two weighted contributions, 0.002 ln 2 and 0.8 ln 2
assert f"{0.002 * math.log(2):.4f}" == "0.0014" and f"{0.8 * math.log(2):.4f}" == "0.5545"
assert f"{0.002 * math.log(0.002 / 0.001):.4f}" == "0.0014"

# %% after check-log
# the two log-ratios (ln 2 and ln(0.50/0.49)), their ratio and the two contributions
log_ratio_rare, log_ratio_common = math.log(0.02 / 0.01), math.log(0.50 / 0.49)
assert f"{log_ratio_rare:.3f}" == "0.693" and f"{log_ratio_common:.4f}" == "0.0202"
assert round(log_ratio_rare / log_ratio_common) == 34
assert (f"{0.02 * log_ratio_rare:.4f}", f"{0.50 * log_ratio_common:.4f}") == ("0.0139", "0.0101")
# the same contributions from scipy's elementwise rel_entr
assert np.allclose(special.rel_entr([0.02, 0.50], [0.01, 0.49]),
                   [0.02 * log_ratio_rare, 0.50 * log_ratio_common], rtol=1e-12)

# %% after weight
# the hand computation against the course library and scipy
assert np.allclose(terms, klh.pointwise_terms(p_wiki, q_wiki), rtol=1e-12, atol=0.0)
assert np.allclose(terms, special.rel_entr(p_wiki, q_wiki), rtol=1e-12, atol=0.0)
assert [f"{t:+.4f}" for t in terms] == ["+0.1151", "+0.0000", "-0.0811", "+0.0000"]
# the closed forms 0.4 log(4/3) and 0.2 log(2/3), and Exercise 1's quoted 7 decimals
assert np.allclose(terms, [0.4 * math.log(4 / 3), 0.0, 0.2 * math.log(2 / 3), 0.0], rtol=1e-12)
assert [f"{t:.7f}" for t in terms] == ["0.1150728", "0.0000000", "-0.0810930", "0.0000000"]

# %% after rare
for eps in (1e-3, 1e-6, 1e-12):
    # closed forms: the common outcome gives 0.5 log(0.5 / (1 - eps)),
    # the rare one 0.5 log(0.5 / eps)
    common, rare = 0.5 * math.log(0.5 / (1 - eps)), 0.5 * math.log(0.5 / eps)
    assert math.isclose(rare_values[eps], common + rare, rel_tol=1e-12)
    assert rare > rare_values[eps] and common < 0 and f"{common:+.2f}" == "-0.35"
assert [f"{v:.2f}" for v in rare_values.values()] == ["2.76", "6.21", "13.12"]
# independent check: 0.01 ln(0.01 / 1e-50) = 0.01 * 48 ln 10, and 0.99 ln 0.99 (1 - 1e-50 is 1.0)
assert math.isclose(rare_p_terms[1], 0.01 * 48 * math.log(10), rel_tol=1e-12)
assert math.isclose(rare_p_terms[0], 0.99 * math.log(0.99), rel_tol=1e-12)
assert (f"{rare_p_terms[1]:.3f}", f"{rare_p_terms.sum():.3f}") == ("1.105", "1.095")

# %% after check-zeros
# D(P || Q) = 0.5 ln 2 (outcome 2 contributes 0), D(Q || P) = +inf, by scipy's rel_entr
check_p, check_q = np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.25, 0.25])
assert math.isclose(special.rel_entr(check_p, check_q).sum(), 0.5 * math.log(2), rel_tol=1e-12)
assert f"{0.5 * math.log(2):.4f}" == "0.3466"
assert special.rel_entr(check_q, check_p).sum() == math.inf

# %% after sum
# against the course library and a pure-Python loop with math.log
kl_loop = sum(p_x * math.log(p_x / q_x) for p_x, q_x in zip(p_wiki.tolist(), q_wiki.tolist(),
                                                        strict=True))
assert math.isclose(kl_pq, klh.kl_divergence(p_wiki, q_wiki), rel_tol=1e-12)
assert math.isclose(kl_pq, kl_loop, rel_tol=1e-12)
assert f"{kl_pq:.7f}" == "0.0339798" and f"{kl_pq:.4f}" == "0.0340"
assert abs(kl_pq - 0.0915) > 0.05  # the value the wiki page prints is far off
assert f"{np.abs(terms).sum():.4f}" == "0.1962"  # = 0.1151 + 0.0811
assert (f"{kl_pq / math.log(2):.7f}" == f"{float(klh.kl_divergence(p_wiki, q_wiki, base=2)):.7f}"
        == "0.0490225")

# %% after expectation
assert (f"{estimate:.4f}", f"{standard_error:.4f}", f"{sigma:.4f}") == (
    "0.0352", "0.0018", "0.2546")
assert abs(z_score) < 1 and sigma > 7 * kl_pq
assert f"{standard_error / kl_pq:.0%}" == "5%"
# the standard error estimated from the sample is close to the exact sigma / sqrt(n)
standard_error_exact = sigma / math.sqrt(n_samples)
assert math.isclose(standard_error, standard_error_exact, rel_tol=0.05)
# "after 20000 samples the standard error is about 5% of the divergence" (samples-predict)
assert f"{standard_error_exact / kl_pq:.0%}" == "5%"
# sigma by hand: the log-ratios are log(4/3) w.p. 0.4, log(2/3) w.p. 0.2 and 0 otherwise
second_moment = 0.4 * math.log(4 / 3) ** 2 + 0.2 * math.log(2 / 3) ** 2
assert math.isclose(sigma, math.sqrt(second_moment - kl_pq**2), rel_tol=1e-9)
# the text's "about a third (32%)" and "one in twenty (4.6%)": both tails of the normal law,
# 2 Phi(-k) with scipy's normal CDF ndtr
assert f"{2 * special.ndtr(-1):.2f}" == "0.32" and f"{2 * special.ndtr(-2):.3f}" == "0.046"
# and "more than 4 standard errors for fewer than 1 seed in 10000"
assert 2 * special.ndtr(-4) < 1e-4
# the same two shares by Monte Carlo, without the normal approximation: 20000 repetitions of
# the 20000-sample estimate, each drawn as the counts of the four outcomes (a multinomial draw)
# and judged by its own sample standard error, as the cell does
mc_counts = np.random.default_rng(7).multinomial(n_samples, p_wiki, size=20_000)
mc_log_ratios = np.log(p_wiki / q_wiki)
mc_means = mc_counts @ mc_log_ratios / n_samples
mc_sds = np.sqrt((mc_counts @ mc_log_ratios**2 / n_samples - mc_means**2)
                 * n_samples / (n_samples - 1))
mc_z = np.abs(mc_means - kl_pq) / (mc_sds / math.sqrt(n_samples))
assert abs((mc_z > 1).mean() - 0.32) < 0.02 and abs((mc_z > 2).mean() - 0.046) < 0.008

# %% after samples-needed
assert sigma / math.sqrt(n_for_10_percent) <= 0.1 * kl_pq < sigma / math.sqrt(n_for_10_percent - 1)
assert n_for_10_percent == 5615
# the standard error sigma / sqrt(n): 4n samples halve it, 100n divide it by 10
assert math.isclose(sigma / math.sqrt(4 * n_samples), standard_error_exact / 2, rel_tol=1e-12)
assert math.isclose(sigma / math.sqrt(100 * n_samples), standard_error_exact / 10, rel_tol=1e-12)
# "a quarter of the samples: 5615, not exactly 5000, because the 5% is rounded from 5.3%"
assert f"{standard_error_exact / kl_pq:.1%}" == "5.3%"
assert round(n_samples / 4 * (standard_error_exact / kl_pq / 0.05) ** 2) == 5615

# %% after check-negative
# one draw: the estimate is the log-ratio of that draw, negative only for x = 2, ln(0.2 / 0.3)
assert f"{math.log(0.2 / 0.3):.4f}" == "-0.4055" and p_wiki[2] == 0.2
# Monte Carlo with the course library: over 2000 seeds the n = 1 estimates take only the three
# log-ratio values, and the share of negative ones is within 4 standard errors of 0.2
# (entry 0 of the library's running mean is the estimate after the first draw)
one_draw = np.array([klh.monte_carlo.running_mean_estimate(p_wiki, q_wiki, 1, s)[0]
                     for s in range(2000)])
assert np.all(np.isclose(one_draw[:, None], np.log(p_wiki / q_wiki)[None, [0, 1, 2]]).any(axis=1))
assert np.all(np.isclose(one_draw[one_draw < 0], math.log(2 / 3)))
assert abs((one_draw < 0).mean() - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 2000)

# %% after nonneg
assert math.isclose(lower_bounds.sum(), 0.0, abs_tol=1e-15)

# %% after asym
assert math.isclose(kl_qp, special.rel_entr(q_wiki, p_wiki).sum(), rel_tol=1e-12)
# the closed forms 0.3 log(3/4) and 0.3 log(3/2)
assert math.isclose(terms_qp[0], 0.3 * math.log(0.75), rel_tol=1e-12)
assert math.isclose(terms_qp[2], 0.3 * math.log(1.5), rel_tol=1e-12)
assert (f"{terms_qp[0]:+.4f}", f"{terms_qp[2]:+.4f}") == ("-0.0863", "+0.1216")
assert f"{kl_qp:.7f}" == "0.0353349"
