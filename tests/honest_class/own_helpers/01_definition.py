# %% ex1_kl_hand
# Exercise 1 distributions (chosen by the course: the sheet's own numbers were lost)
P_ex1 = np.array([0.7, 0.2, 0.1])
Q_ex1 = np.array([0.5, 0.25, 0.25])


def pointwise_terms(p, q):
    """My own helper: the terms p_i * ln(p_i / q_i), one per outcome, in nats.

    Same name as a routine of the course library, but nothing from kl_helpers is used here.
    Conventions: 0 where p_i = 0 (whatever q_i is), +inf where p_i > 0 = q_i.
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    terms = np.zeros(p.shape)
    support = p > 0
    with np.errstate(divide="ignore"):
        terms[support] = p[support] * (np.log(p[support]) - np.log(q[support]))
    return terms


# Set kl_hand to D(P_ex1 || Q_ex1) in nats (a float)
hand_terms = pointwise_terms(P_ex1, Q_ex1)
for outcome, term in enumerate(hand_terms):
    print(f"outcome {outcome}: {term:+.6f} nats")
kl_hand = float(sum(hand_terms))
print(f"sum: {kl_hand:.6f} nats")

# %% ex2_kl_divergence
class _Outcome:
    """One outcome of the pair (P, Q): its two probabilities."""

    def __init__(self, p_i, q_i):
        self.p_i = float(p_i)
        self.q_i = float(q_i)

    def contribution(self):
        """p_i ln(p_i / q_i), with the conventions for zeros."""
        if self.p_i == 0.0:
            return 0.0
        if self.q_i == 0.0:
            return math.inf
        return self.p_i * (math.log(self.p_i) - math.log(self.q_i))


def rel_entr(p, q):
    """My own elementwise relative entropy p_i ln(p_i / q_i) (a list), written with the class
    above; scipy's function of the same name is not used."""
    return [_Outcome(p_i, q_i).contribution() for p_i, q_i in zip(p, q)]


def kl_divergence(p, q):
    """Kullback-Leibler divergence D(p || q) of two discrete distributions, in nats.

    My own computation: nothing from kl_helpers is used (not its kl_divergence either).
    Small inputs are summed outcome by outcome with my rel_entr; longer ones are split in two
    halves and the function calls itself on each half (a sum over outcomes can be split
    anywhere).
    """
    p = np.asarray(p, dtype=float).ravel()
    q = np.asarray(q, dtype=float).ravel()
    if p.size <= 4:
        return float(sum(rel_entr(p, q)))
    half = p.size // 2
    return kl_divergence(p[:half], q[:half]) + kl_divergence(p[half:], q[half:])

# %% ex3_gaussian_kl_numeric
class NormalDensity:
    """A Gaussian N(mean, sd^2) described by its log-density (sd is a standard deviation)."""

    def __init__(self, mean, sd):
        self.mean = float(mean)
        self.sd = float(sd)

    def logpdf(self, x):
        return float(stats.norm.logpdf(x, loc=self.mean, scale=self.sd))

    def window(self, width=40.0):
        """The interval mean +/- width * sd, outside which the density is 0.0 in float64."""
        return self.mean - width * self.sd, self.mean + width * self.sd


def kl_integrand(x, p, q):
    """p(x) (log p(x) - log q(x)), from log-densities, so nothing underflows into a nan."""
    log_p = p.logpdf(x)
    return math.exp(log_p) * (log_p - q.logpdf(x))


def gaussian_kl(p, q):
    """My own KL between two NormalDensity objects, by integrate.quad over p's window.

    No closed form here (the course library's gaussian_kl, a closed form, is not used).
    """
    lower, upper = p.window()
    value, _ = integrate.quad(kl_integrand, lower, upper, args=(p, q))
    return float(value)


def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):
    """KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2)) by numerical integration, in nats.

    integrate.quad over the window mu_p +/- 40 sigma_p; nothing from kl_helpers.
    """
    return gaussian_kl(NormalDensity(mu_p, sigma_p), NormalDensity(mu_q, sigma_q))
