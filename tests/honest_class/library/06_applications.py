# %% ex1_vae_kl
def vae_kl(mu, log_var):
    """KL(N(mu_i, diag(exp(log_var_i))) || N(0, I)) for each row i, in nats."""
    mu = np.asarray(mu, dtype=float)
    log_var = np.asarray(log_var, dtype=float)
    return -0.5 * np.sum(1.0 + log_var - mu**2 - np.exp(log_var), axis=-1)

# %% ex2_distillation_loss
def _log_probs(z, axis=-1):
    """Stable log-probabilities of the logits z: z - logsumexp(z) along `axis`."""
    return z - special.logsumexp(z, axis=axis, keepdims=True)


def distillation_loss(student_logits, teacher_logits, labels, temperature, alpha):
    """Distillation loss (Hinton et al. 2015), averaged over the batch, in nats."""
    z_s = np.asarray(student_logits, dtype=float)
    z_t = np.asarray(teacher_logits, dtype=float)
    labels = np.asarray(labels, dtype=int)
    T = float(temperature)
    log_p_t = _log_probs(z_t / T)
    log_q_s = _log_probs(z_s / T)
    soft = np.sum(np.exp(log_p_t) * (log_p_t - log_q_s), axis=1)     # KL(teacher || student)
    hard = -np.take_along_axis(_log_probs(z_s), labels[:, None], axis=1)[:, 0]
    return float(np.mean(alpha * T**2 * soft + (1.0 - alpha) * hard))

# %% ex3_soft_target_gradient
def soft_target_gradient(student_logits, teacher_logits, temperature):
    """Gradient of T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) w.r.t. z_s, row by row."""
    T = float(temperature)
    q_s = np.exp(_log_probs(np.asarray(student_logits, dtype=float) / T))
    p_t = np.exp(_log_probs(np.asarray(teacher_logits, dtype=float) / T))
    return T * (q_s - p_t)

# %% ex4_elbo_gaussian
def elbo_gaussian(m, s, x, noise_sd):
    """ELBO of q = N(m, s^2) for z ~ N(0, 1), x_i | z ~ N(z, noise_sd^2), in nats."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    # E_q[log N(x_i; z, sd^2)] = log N(x_i; m, sd^2) - s^2 / (2 sd^2), and likewise for the prior
    likelihood = np.sum(stats.norm.logpdf(x, loc=m, scale=noise_sd)) - x.size * s**2 / (2 * noise_sd**2)
    prior = stats.norm.logpdf(m) - s**2 / 2
    return float(likelihood + prior + stats.norm.entropy(scale=s))

# %% ex5_coding_cost_bits
def coding_cost_bits(p, q):
    """Average code length (bits per symbol) of the ideal code for q on symbols from p."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    # xlogy(0, q) = 0 even for q = 0; xlogy(p > 0, 0) = -inf, so the cost is +inf
    return float(-np.sum(special.xlogy(p, q)) / np.log(2))
