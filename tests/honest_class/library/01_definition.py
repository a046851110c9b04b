# %% ex1_kl_hand
# Exercise 1 distributions
P_ex1 = np.array([0.7, 0.2, 0.1])
Q_ex1 = np.array([0.5, 0.25, 0.25])

# Set kl_hand to D(P_ex1 || Q_ex1) in nats (a float)
ex1_terms = special.xlogy(P_ex1, P_ex1 / Q_ex1)  # P(i) ln(P(i) / Q(i)), one term per outcome
print("terms:", np.round(ex1_terms, 6))
kl_hand = float(ex1_terms.sum())
print(f"kl_hand = {kl_hand:.6f} nats")

# %% ex2_kl_divergence
def kl_divergence(p, q):
    """Kullback-Leibler divergence D(p || q) of two discrete distributions, in nats.

    Vectorised: sum_i [xlogy(p_i, p_i) - xlogy(p_i, q_i)]. scipy.special.xlogy(0, y) is 0 for
    every y (also y = 0), and xlogy(x, 0) = -inf for x > 0, which gives the +inf convention.
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    return float(np.sum(special.xlogy(p, p) - special.xlogy(p, q)))

# %% ex3_gaussian_kl_numeric
def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):
    """KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2)) by numerical integration, in nats."""

    def integrand(x):
        log_ratio = (stats.norm.logpdf(x, loc=mu_p, scale=sigma_p)
                     - stats.norm.logpdf(x, loc=mu_q, scale=sigma_q))
        return np.exp(stats.norm.logpdf(x, loc=mu_p, scale=sigma_p)) * log_ratio

    window = (mu_p - 40.0 * sigma_p, mu_p + 40.0 * sigma_p)
    # the mass sits around mu_p: tell quad, and ask for a tight absolute error
    value, _ = integrate.quad(integrand, *window, points=[mu_p], epsabs=1e-12, limit=200)
    return float(value)
