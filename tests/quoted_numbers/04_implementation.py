"""04_implementation: the numbers its text quotes (see README.md here)."""

# %% after seed-code
# the one-liner is the definition, term by term (terms 1 and 3 are 0), to 4 decimals 0.0340
kl_by_hand = 0.4 * math.log(0.4 / 0.3) + 0.2 * math.log(0.2 / 0.3)
assert math.isclose(kl_one_liner, kl_by_hand, rel_tol=1e-12)
assert f"{kl_one_liner:.4f}" == "0.0340"

# %% after kl-div
# kl_div is rel_entr - x + y term by term; equal sums when both inputs sum to 1
assert np.allclose(terms_kl_div, terms_rel - P + Q)
assert math.isclose(terms_kl_div.sum(), terms_rel.sum(), rel_tol=1e-12)
assert f"{terms_rel[2]:.4f}" == "-0.0811" and f"{terms_kl_div.sum():.4f}" == "0.0340"
# unequal sums: rel_entr gives 0.5 ln 2 (closed form), kl_div that minus 1 plus 0.75
assert math.isclose(sum_rel, 0.5 * math.log(2), rel_tol=1e-12)
assert math.isclose(sum_kl_div, sum_rel - x_mass.sum() + y_mass.sum(), rel_tol=1e-12)
assert f"{sum_rel:.4f}" == "0.3466" and f"{sum_kl_div:.4f}" == "0.0966"

# %% after kl-div-note
# the quick check: sum of rel_entr = sum of kl_div + sum x - sum y, for arrays of any sums
check_x, check_y = np.array([0.2, 0.5, 0.6]), np.array([0.4, 0.1, 0.2])
assert math.isclose(special.rel_entr(check_x, check_y).sum(),
                    special.kl_div(check_x, check_y).sum() + check_x.sum() - check_y.sum(),
                    rel_tol=1e-12)

# %% after stats-entropy
# closed forms: the raw sum is 1 ln(1/3) + 2 ln 1 + 3 ln 3 = 2 ln 3; after dividing by 6, ln(3) / 3
assert math.isclose(via_rel_entr, 2 * math.log(3), rel_tol=1e-12)
assert math.isclose(via_stats, math.log(3) / 3, rel_tol=1e-12)
assert f"{via_stats:.4f}" == "0.3662" and f"{via_rel_entr:.4f}" == "2.1972"
# the course library rejects the unnormalised input
try:
    klh.kl_divergence(raw_p, raw_q)
except ValueError:
    pass
else:
    raise AssertionError("the reference should reject unnormalised input")

# %% after axis-demo
# one value per row, as a loop over rel_entr gives; stats.entropy's default gives 4 columns
per_row_loop = np.array([special.rel_entr(p_row, q_row).sum()
                         for p_row, q_row in zip(batch_p, batch_q, strict=True)])
assert np.allclose(per_row, per_row_loop, rtol=1e-12)
assert np.allclose(stats_rows, per_row, rtol=1e-12)  # rows sum to 1: renormalising changes nothing
assert stats_default.shape == (4,)

# %% after axis-note
# the quick check: a (32, 10) batch gives 10 numbers by default, 32 along axis=1
check_rng = np.random.default_rng(0)
check_targets = check_rng.dirichlet(np.ones(10), size=32)
check_outputs = check_rng.dirichlet(np.ones(10), size=32)
assert stats.entropy(check_targets, check_outputs).shape == (10,)
assert stats.entropy(check_targets, check_outputs, axis=1).shape == (32,)

# %% after zeros-demo
# the mask gives ln 2, as rel_entr does; the other direction is +inf
assert math.isclose(masked, math.log(2), rel_tol=1e-12)
assert math.isclose(masked, special.rel_entr(p_zero, q_zero).sum(), rel_tol=1e-12)
assert np.isposinf(masked_inf) and np.isposinf(special.rel_entr(q_zero, p_zero).sum())

# %% after overflow-demo
assert exact_ratio > Fraction(float(largest)) and np.isposinf(ratio)
assert f"{float(exact_ratio / 10**308):.4f}" == "1.8018" and f"{largest:.4e}" == "1.7977e+308"
assert scipy_term == 2839.139983229607
assert 0 < y_tiny < np.finfo(np.float64).smallest_normal  # a subnormal number
assert f"{np.finfo(np.float64).smallest_normal:.4e}" == "2.2251e-308"
assert tuple(int(part) for part in scipy.__version__.split(".")[:2]) >= (1, 15)  # the fix
assert math.isclose(difference_term, scipy_term, rel_tol=1e-14)
assert math.isclose(difference_term, 4 * (math.log(4) - math.log(2.22e-308)), rel_tol=1e-14)

# %% after validation-demo
assert sum([0.1] * 10) != 1.0 and abs(sum([0.1] * 10) - 1.0) < 1e-15
assert set(messages) == set(bad_inputs)  # the reference raised ValueError for each
assert math.isclose(silent, 2 * math.log(2), rel_tol=1e-12)

# %% after float-limits
with np.errstate(over="ignore", under="ignore"):
    assert np.isfinite(np.exp(709.78)) and np.isposinf(np.exp(709.79))
    assert np.exp(-745.1) > 0 and np.exp(-745.2) == 0
assert f"{ln_max:.2f}" == "709.78" and f"{ln_tiny:.2f}" == "-744.44"

# %% after naive-logits
assert np.isnan(naive_value)
assert math.isclose(naive_small, klh.kl_from_logits(extreme / 1000, uniform_logits), rel_tol=1e-12)

# %% after stable-logits
assert np.array_equal(log_p_extreme, [0.0, -1000.0, -2000.0])
assert np.allclose(log_p_extreme, special.log_softmax(extreme), rtol=1e-15)
assert math.isclose(stable_value, klh.kl_from_logits(extreme, uniform_logits), rel_tol=1e-12)
assert f"{stable_value:.6f}" == "1.098612"

# %% after quick-check-shift
# the quick check: adding a constant to every logit changes nothing
check_logits = np.array([0.3, -2.0, 5.0])
assert abs(klh.kl_from_logits(check_logits + 1000.0, check_logits)) < 1e-9
assert np.allclose(special.softmax(check_logits + 1000.0), special.softmax(check_logits))

# %% after figure-check
assert first_nan == first_zero_p3 and s_underflow < first_nan < 1.01 * s_underflow
assert np.all(np.isfinite(stable_curve))
assert np.allclose(stable_curve, klh.kl_from_logits(scaled_logits, zero_logits), atol=1e-12)
assert np.allclose(stable_curve[scales < s_underflow], naive_curve[scales < s_underflow],
                   atol=1e-12)
assert math.isclose(stable_curve[-1], math.log(3), rel_tol=1e-12)
assert f"{s_underflow:.1f}" == "372.6" and f"{s_overflow:.1f}" == "709.8"
# the caption: the first nan is at the first plotted s past the threshold
assert first_nan == scales[scales > s_underflow][0] and f"{first_nan:.1f}" == "373.7"
assert f"{math.log(3):.4f}" == "1.0986"

# %% after entropy-demo
assert math.isclose(h_p, stats.entropy(P), rel_tol=1e-12)
assert math.isclose(h_pq, klh.cross_entropy(P, Q), rel_tol=1e-12)
assert f"{h_p:.4f}" == "1.2799" and f"{h_pq:.4f}" == "1.3138" and f"{kl_pq:.4f}" == "0.0340"
assert math.isclose(stats.entropy(P, base=2), h_p / math.log(2), rel_tol=1e-12)

# %% after myths-check
# Myth 1: the claim is far off, not a rounding difference
assert abs(kl_one_liner - claimed_output) > 0.05
# Myth 4: the nan shows in a plain sum; nansum drops the term of x = 0 and leaves the term
# of x = 2, 0.2 ln(2 / 3); abs turns it positive
assert np.isnan(plain_sum)
assert math.isclose(nan_dropped, 0.2 * math.log(2 / 3), rel_tol=1e-12)
assert math.isclose(nan_dropped, special.rel_entr(P, Q)[1:].sum(), rel_tol=1e-12)
assert f"{nan_dropped:.4f}" == "-0.0811" and f"{sign_hidden:.4f}" == "0.0811"
