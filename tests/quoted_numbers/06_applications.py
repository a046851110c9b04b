"""06_applications: the numbers its text quotes (see README.md here)."""

# %% after vae-example
# the VAE term of mu = (1, -0.5), sigma = (0.5, 2) is exactly 1.75 nats, three ways
assert math.isclose(kl_vae_by_hand, 1.75, rel_tol=1e-12)
assert math.isclose(kl_vae_reference, 1.75, rel_tol=1e-12)
assert math.isclose(kl_vae_per_dimension.sum(), 1.75, rel_tol=1e-12)
# independently, per dimension: (sigma^2 + mu^2 - 1 - ln sigma^2) / 2, the first dimension
# paying mostly for its mean, the second mostly for its variance
mean_part, variance_part = mu_vae**2 / 2, (sigma_vae**2 - 1 - np.log(sigma_vae**2)) / 2
assert np.allclose(mean_part + variance_part, kl_vae_per_dimension, rtol=1e-12)
assert mean_part[0] > variance_part[0] and variance_part[1] > mean_part[1]
# the per-coordinate contributions the text quotes: 0.82 and 0.93 nats
assert [f"{v:.2f}" for v in kl_vae_per_dimension] == ["0.82", "0.93"]

# %% after vae-mistakes
# log_var as the variance fails loudly (nan); as ln(sigma) it is silently far off
assert math.isnan(kl_var_mistake)
assert abs(kl_sd_mistake - kl_vae_reference) > 1.0

# %% after temperature-demo
# at T = 1 almost all the teacher's mass is on class 0
assert klh.softmax(teacher_logits)[0] > 0.95
# against scipy's softmax at every temperature shown
for temperature in (1.0, 4.0, 16.0):
    assert np.allclose(klh.softmax(teacher_logits / temperature),
                       special.softmax(teacher_logits / temperature), rtol=1e-12)

# %% after distill-loss
# the loss is the weighted sum of the two terms computed separately
assert math.isclose(loss_demo, alpha_demo * T_demo**2 * soft_term + (1 - alpha_demo) * hard_term,
                    rel_tol=1e-12)
# the soft term from logits equals the KL of the softened probabilities (scipy's rel_entr)
assert math.isclose(soft_term, special.rel_entr(special.softmax(teacher_logits / T_demo),
                                                special.softmax(student_logits / T_demo)).sum(),
                    rel_tol=1e-10)
assert math.isclose(soft_term, klh.kl_divergence(klh.softmax(teacher_logits / T_demo),
                                                 klh.softmax(student_logits / T_demo)),
                    rel_tol=1e-10)

# %% after gradient-check
# the formula T^a (q_s - p_t) / T agrees with central finite differences in every case
assert len(gradient_pairs) == 6
for temperature, t_squared, analytic, numeric in gradient_pairs:
    assert np.allclose(analytic, numeric, rtol=1e-6, atol=1e-10), (temperature, t_squared)
assert largest_gap < 1e-8

# %% after gradient-norms
# the prompt's numbers: z_s - z_t = (-3, 0, 0, 3) for the four classes
assert np.array_equal(student_logits - teacher_logits, [-3.0, 0.0, 0.0, 3.0])
# with T^2 the norm settles at |z_s - z_t| / N = sqrt(18) / 4 = 1.0607 (T = 128: at the limit)
assert math.isclose(norm_with[-1], norm_limit, rel_tol=1e-3)
assert math.isclose(norm_limit, math.sqrt(18) / 4, rel_tol=1e-12)
assert f"{norm_limit:.4f}" == "1.0607"
# without it, the norm is the same limit divided by T^2
assert math.isclose(norm_without[-1] * temperatures[-1] ** 2, norm_limit, rel_tol=1e-3)

# %% after vi-model
# independent checks: precisions add; the evidence is a multivariate normal density (scipy)
n_obs = x_obs.size
assert math.isclose(post_sd, math.sqrt(1.0 / (1.0 + n_obs / noise_sd**2)), rel_tol=1e-12)
assert math.isclose(post_mean, post_sd**2 * x_obs.sum() / noise_sd**2, rel_tol=1e-12)
cov_x = noise_sd**2 * np.eye(n_obs) + np.ones((n_obs, n_obs))
log_px_scipy = stats.multivariate_normal(np.zeros(n_obs), cov_x).logpdf(x_obs)
assert math.isclose(log_px, log_px_scipy, rel_tol=1e-12)
assert (f"{post_mean:.4f}", f"{post_sd:.4f}", f"{log_px:.4f}") == ("0.9000", "0.5000", "-4.6300")

# %% after vi-elbo
# the closed-form ELBO of q = N(0, 1) against its Monte Carlo estimate, and the quoted values
assert abs(elbo_mc - elbo_closed) < 4 * se_elbo
assert (f"{elbo_closed:.4f}", f"{kl_gap:.4f}") == ("-7.0568", "2.4269")

# %% after vi-figure-check
# on the grid the gap is KL(q || posterior), zero only at the posterior itself
assert np.all(elbo_post_width <= log_px + 1e-12) and np.all(elbo_prior_width <= log_px + 1e-12)
assert np.allclose(log_px - elbo_post_width, klh.gaussian_kl(m_grid, post_sd, post_mean, post_sd))
assert math.isclose(m_grid[best], post_mean, abs_tol=1e-12)
assert math.isclose(applications.elbo(post_mean, post_sd, x_obs, noise_sd), log_px, rel_tol=1e-13)
assert elbo_prior_width.max() < log_px - 0.1  # with the wrong width the bound is never tight

# %% after coding-abracadabra
# notebook 03's whole-bit example: 1.75 bits with the code for P, 2 with the uniform code,
# 0.25 extra bits = KL(P || Q); a real (Huffman) code achieves the ideal lengths
dyadic_p = np.array([0.5, 0.25, 0.125, 0.125])
dyadic_q = np.full(4, 0.25)
dyadic_own = applications.expected_code_length_bits(
    dyadic_p, applications.ideal_code_lengths_bits(dyadic_p))
dyadic_uniform = applications.expected_code_length_bits(
    dyadic_p, applications.ideal_code_lengths_bits(dyadic_q))
assert dyadic_own == 1.75 and dyadic_uniform == 2.0
assert math.isclose(klh.kl_divergence(dyadic_p, dyadic_q, base=2), 0.25, rel_tol=1e-12)
assert math.isclose(dyadic_own, klh.entropy(dyadic_p, base=2), rel_tol=1e-12)
assert math.isclose(dyadic_uniform, klh.cross_entropy(dyadic_p, dyadic_q, base=2), rel_tol=1e-12)
assert np.array_equal(applications.huffman_code_lengths(dyadic_p),
                      applications.ideal_code_lengths_bits(dyadic_p))

# %% after coding-abracadabra
# pure-Python entropy, the decomposition, and the Shannon and Huffman bounds
assert math.isclose(entropy_bits, -sum(p * math.log2(p) for p in p_word), rel_tol=1e-12)
assert math.isclose(entropy_bits, stats.entropy(p_word, base=2), rel_tol=1e-12)
assert math.isclose(rows["code for Q"]["ideal"], entropy_bits + kl_word_bits, rel_tol=1e-12)
assert cross_bits <= rows["code for Q"]["Shannon"] < cross_bits + 1
assert entropy_bits <= rows["code for P"]["Huffman"] < entropy_bits + 1
assert (f"{entropy_bits:.4f}", f"{cross_bits:.4f}", f"{kl_word_bits:.4f}") == (
    "2.0404", "2.2553", "0.2149")
assert f"{huffman_extra:.4f}" == "0.2727"

# %% after coding-message
# 23 and 26 bits for the word; 11 letters times the KL is the ideal codes' difference
assert (bits_p_code, bits_q_code) == (23, 26)
assert math.isclose(huffman_extra, (bits_q_code - bits_p_code) / len(word), rel_tol=1e-12)
assert math.isclose(len(word) * (cross_bits - entropy_bits), len(word) * kl_word_bits,
                    rel_tol=1e-10)

# %% after coding-message
# the quick check on real codes: with two symbols every Huffman code spends 1 bit per symbol,
# so the wrong model Q = (0.9, 0.1) costs nothing extra on P = (0.6, 0.4) though the KL is 0.449
two_p, two_q = np.array([0.6, 0.4]), np.array([0.9, 0.1])
assert np.array_equal(applications.huffman_code_lengths(two_p), [1, 1])
assert np.array_equal(applications.huffman_code_lengths(two_q), [1, 1])
two_kl_bits = klh.kl_divergence(two_p, two_q, base=2)
assert math.isclose(two_kl_bits, 0.6 * math.log2(0.6 / 0.9) + 0.4 * math.log2(0.4 / 0.1),
                    rel_tol=1e-12)
assert f"{two_kl_bits:.3f}" == "0.449"

# %% after gradient-norms
# Figure 1's caption: with T^2 the norm is within 6% of its limit from T = 4 on, not at T = 1
assert np.all(np.abs(norm_with[temperatures >= 4] / norm_limit - 1) < 0.06)
assert norm_with[0] < 0.5 * norm_limit
