# %% ex1_kl_hand
# Exercise 1 distributions (chosen by the course: the sheet's own numbers were lost)
P_ex1 = np.array([0.7, 0.2, 0.1])
Q_ex1 = np.array([0.5, 0.25, 0.25])

# Set kl_hand to D(P_ex1 || Q_ex1) in nats (a float)
kl_hand = 0.0
for i in range(len(P_ex1)):
    term = float(P_ex1[i]) * math.log(float(P_ex1[i]) / float(Q_ex1[i]))
    print(f"term {i}: {P_ex1[i]} * ln({P_ex1[i]} / {Q_ex1[i]}) = {term:+.6f}")
    kl_hand += term
print(f"kl_hand = {kl_hand:.6f} nats")

# %% ex2_kl_divergence
def kl_divergence(p, q):
    """Kullback-Leibler divergence D(p || q) of two discrete distributions, in nats.

    A plain loop over the outcomes with math.log.
    """
    total = 0.0
    for p_i, q_i in zip(p, q):
        p_i = float(p_i)
        q_i = float(q_i)
        if p_i == 0.0:
            continue  # 0 * log(0 / q_i) counts as 0, also when q_i == 0
        if q_i == 0.0:
            return math.inf  # p_i > 0 = q_i
        total += p_i * (math.log(p_i) - math.log(q_i))
    return total

# %% ex3_gaussian_kl_numeric
def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):
    """KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2)) by numerical integration, in nats."""

    def integrand(x):
        log_p = float(stats.norm.logpdf(x, loc=mu_p, scale=sigma_p))
        log_q = float(stats.norm.logpdf(x, loc=mu_q, scale=sigma_q))
        return math.exp(log_p) * (log_p - log_q)

    lower = mu_p - 40.0 * sigma_p
    upper = mu_p + 40.0 * sigma_p
    value, _error = integrate.quad(integrand, lower, upper)
    return float(value)
