# %% ex1_kl_divergence
def kl_divergence(p, q, base=None, axis=-1):
    """Kullback-Leibler divergence D(p || q) of discrete distributions, with input checks.

    Vectorised with numpy: validation first (shapes, signs, sums along `axis`), then a
    masked sum of p * (log p - log q) along `axis`.
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"p and q have different shapes {p.shape} and {q.shape}; "
                         "they must describe the same outcomes")
    for name, values in (("p", p), ("q", q)):
        if np.any(values < 0):
            raise ValueError(f"{name} has negative entries: {values[values < 0]}")
    for name, values in (("p", p), ("q", q)):
        sums = np.sum(values, axis=axis)
        bad = ~(np.abs(sums - 1.0) <= 1e-6)  # also catches a nan sum
        if np.any(bad):
            raise ValueError(f"{name} must sum to 1 along axis {axis} (within 1e-6); "
                             f"sums found: {np.atleast_1d(sums)[np.atleast_1d(bad)]}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    result = np.sum(terms, axis=axis)
    if base is not None:
        result = result / np.log(base)
    return float(result) if np.ndim(result) == 0 else result

# %% ex2_kl_from_logits
def kl_from_logits(logits_p, logits_q):
    """D(softmax(logits_p) || softmax(logits_q)) in nats, computed stably from logits."""

    def my_log_probs(z):
        # log-sum-exp by hand: shift by the row maximum so every exponent is <= 0
        shifted = z - np.max(z, axis=-1, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))

    log_p = my_log_probs(np.asarray(logits_p, dtype=float))
    log_q = my_log_probs(np.asarray(logits_q, dtype=float))
    result = np.einsum("...k,...k->...", np.exp(log_p), log_p - log_q)
    return float(result) if np.ndim(result) == 0 else result

# %% ex3_entropy
def entropy(p, base=None):
    """Shannon entropy H(P) = -sum_i p_i * log(p_i), with 0 * log 0 = 0."""
    p = np.asarray(p, dtype=float)
    h = -np.sum(special.xlogy(p, p))  # xlogy(0, 0) = 0
    return float(h if base is None else h / np.log(base))

# %% ex3_cross_entropy
def cross_entropy(p, q, base=None):
    """Cross-entropy H(P, Q) = -sum_i p_i * log(q_i), with 0 * log q_i = 0 for any q_i."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    h = -np.sum(special.xlogy(p, q))  # xlogy(0, q) = 0; xlogy(p > 0, 0) = -inf
    return float(h if base is None else h / np.log(base))
