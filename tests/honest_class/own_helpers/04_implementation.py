# %% ex1_kl_divergence
"""Exercise 1, written from scratch: nothing from kl_helpers is used, and none of scipy's
ready-made routines (special.rel_entr, kl_div, entr, stats.entropy) either. My elementwise
helper is called rel_entr because it computes the same terms, but it is my own code."""
import math

SUM_TOLERANCE = 1e-6


class InvalidDistributionError(ValueError):
    """An argument of kl_divergence is not a (batch of) probability distribution(s)."""


class Distributions:
    """A batch of distributions with the outcomes along `axis`, checked on request."""

    def __init__(self, name, values, axis):
        self.name = name
        self.values = np.asarray(values, dtype=float)
        self.axis = axis

    def check(self):
        negative = self.values < 0
        if negative.any():
            raise InvalidDistributionError(
                f"{self.name} has {int(negative.sum())} negative entries, e.g. "
                f"{self.values[negative][0]}; probabilities must be >= 0")
        totals = self.values.sum(axis=self.axis)
        off = ~(np.abs(totals - 1.0) <= SUM_TOLERANCE)
        if np.any(off):
            raise InvalidDistributionError(
                f"{self.name} does not sum to 1 along axis {self.axis} (within {SUM_TOLERANCE}): "
                f"sums {np.atleast_1d(totals)[np.atleast_1d(off)]}; nothing is renormalised")
        return self


def rel_entr(x, y):
    """My own elementwise x (log x - log y): 0 where x = 0 (even if y = 0), +inf where y = 0 < x."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * (np.log(x) - np.log(y)), 0.0)


def kl_divergence(p, q, base=None, axis=-1):
    """D(p || q) along `axis`, in nats or in units of log(base); validated, never renormalised.

    Raises InvalidDistributionError (a ValueError) for negative entries, different shapes or
    sums off 1 by more than 1e-6.
    """
    if base is not None:
        return kl_divergence(p, q, axis=axis) / math.log(base)  # nats -> units of log(base)
    p_dist = Distributions("p", p, axis)
    q_dist = Distributions("q", q, axis)
    if p_dist.values.shape != q_dist.values.shape:  # before any arithmetic: no broadcasting
        raise InvalidDistributionError(
            f"p and q must have the same shape, got {p_dist.values.shape} and {q_dist.values.shape}")
    p_dist.check()
    q_dist.check()
    total = rel_entr(p_dist.values, q_dist.values).sum(axis=axis)
    return total.item() if total.ndim == 0 else total

# %% ex2_kl_from_logits
def logsumexp(z, axis=-1, keepdims=False):
    """My own log-sum-exp along `axis` (batches welcome; scipy's is not used):
    m + log(sum exp(z - m)) with m the maximum along the axis, so no exponential overflows."""
    z = np.asarray(z, dtype=float)
    m = np.max(z, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(z, axis=-1):
    """My own log-softmax along `axis`: (z - m) - log(sum exp(z - m))."""
    z = np.asarray(z, dtype=float)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - logsumexp(shifted, axis=axis, keepdims=True)


def kl_from_logits(logits_p, logits_q):
    """D(softmax(logits_p) || softmax(logits_q)) in nats, computed stably from logits.

    Nothing from kl_helpers or scipy: my own log_softmax / logsumexp above, row by row along
    the last axis, and the weighted sum of log-ratios.
    """
    log_p = log_softmax(logits_p)
    log_q = log_softmax(logits_q)
    result = np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)
    return float(result) if result.ndim == 0 else result

# %% ex3_entropy
"""Exercise 3: my own entropy (nothing from kl_helpers, nor scipy's stats.entropy,
special.entr, rel_entr or kl_div)."""
import math


def _probabilities(values):
    """A 1-D list of plain floats, from a list or a numpy array."""
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]


def entropy(p, base=None):
    """Shannon entropy H(P) = -sum_i p_i * log(p_i), with 0 * log 0 = 0."""
    if base is not None:
        return entropy(p) / math.log(base)  # the same quantity in units of log(base)
    entr = [-x * math.log(x) if x > 0 else 0.0 for x in _probabilities(p)]  # one term per outcome
    return math.fsum(entr)

# %% ex3_cross_entropy
def cross_entropy(p, q, base=None):
    """Cross-entropy H(P, Q) = -sum_i p_i * log(q_i), with 0 * log q_i = 0 for any q_i.

    Built from my own functions, as the exercise allows: H(P, Q) = H(P) + D(P || Q), with my
    recursive entropy above and my validated kl_divergence of Exercise 1 (both in the units
    of `base`). +inf when some q_i = 0 < p_i, through the KL.
    """
    return entropy(p, base) + kl_divergence(p, q, base=base)
