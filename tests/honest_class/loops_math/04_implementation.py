# %% ex1_kl_divergence
def kl_divergence(p, q, base=None, axis=-1):
    """Kullback-Leibler divergence D(p || q) of discrete distributions, with input checks.

    Plain loops over the distributions and their outcomes, with math.log.
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    if p.ndim == 0:
        raise ValueError("p and q must have at least one axis of outcomes")
    for name, values in (("p", p), ("q", q)):
        for value in values.ravel().tolist():
            if value < 0:
                raise ValueError(f"{name} has a negative entry ({value}): not a distribution")

    # one distribution per row, outcomes along the last axis
    p_moved = np.moveaxis(p, axis, -1)
    q_moved = np.moveaxis(q, axis, -1)
    out_shape = p_moved.shape[:-1]
    n_outcomes = p_moved.shape[-1]
    p_rows = p_moved.reshape(-1, n_outcomes).tolist()
    q_rows = q_moved.reshape(-1, n_outcomes).tolist()

    for name, rows in (("p", p_rows), ("q", q_rows)):
        for row in rows:
            total = math.fsum(row)
            if not abs(total - 1.0) <= 1e-6:
                raise ValueError(f"{name} does not sum to 1 along axis {axis} (sum {total}); "
                                 "it is not a distribution, and it is not renormalised")

    results = []
    for p_row, q_row in zip(p_rows, q_rows):
        value = 0.0
        for p_i, q_i in zip(p_row, q_row):
            if p_i == 0.0:
                continue  # 0 * log(0 / q_i) = 0
            if q_i == 0.0:
                value = math.inf  # p_i > 0 = q_i
                break
            value += p_i * (math.log(p_i) - math.log(q_i))
        if base is not None:
            value = value / math.log(base)
        results.append(value)

    if len(out_shape) == 0:
        return results[0]
    return np.array(results, dtype=float).reshape(out_shape)

# %% ex2_kl_from_logits
import math


def my_log_softmax_rows(rows):
    """Log-softmax of every row of a batch (a list of lists of logits), by log-sum-exp."""
    out = []
    for row in rows:
        largest = max(row)  # subtract the largest logit: every exponent is <= 0
        total = 0.0
        for z in row:
            total += math.exp(z - largest)
        log_total = math.log(total)  # total >= 1, so this is finite
        out.append([(z - largest) - log_total for z in row])
    return out


def kl_from_logits(logits_p, logits_q):
    """D(softmax(logits_p) || softmax(logits_q)) in nats, computed stably from logits."""
    zp = np.asarray(logits_p, dtype=float)
    zq = np.asarray(logits_q, dtype=float)
    n_outcomes = zp.shape[-1]
    log_p_rows = my_log_softmax_rows(zp.reshape(-1, n_outcomes).tolist())
    log_q_rows = my_log_softmax_rows(zq.reshape(-1, n_outcomes).tolist())

    results = []
    for log_p, log_q in zip(log_p_rows, log_q_rows):
        divergence = 0.0
        for a, b in zip(log_p, log_q):
            divergence += math.exp(a) * (a - b)
        results.append(divergence)

    if zp.ndim == 1:
        return results[0]
    return np.array(results).reshape(zp.shape[:-1])

# %% ex3_entropy
def entropy(p, base=None):
    """Shannon entropy H(P) = -sum_i p_i * log(p_i), with 0 * log 0 = 0."""
    total = 0.0
    for p_i in p:
        p_i = float(p_i)
        if p_i > 0.0:
            total -= p_i * math.log(p_i)
    if base is not None:
        total = total / math.log(base)
    return total

# %% ex3_cross_entropy
def cross_entropy(p, q, base=None):
    """Cross-entropy H(P, Q) = -sum_i p_i * log(q_i), with 0 * log q_i = 0 for any q_i."""
    total = 0.0
    for p_i, q_i in zip(p, q):
        p_i = float(p_i)
        q_i = float(q_i)
        if p_i == 0.0:
            continue
        if q_i == 0.0:
            return math.inf
        total -= p_i * math.log(q_i)
    if base is not None:
        total = total / math.log(base)
    return total
