# %% ex1_kl_terms
def log_ratio(p_i, q_i):
    """ln(p_i / q_i) as a difference of logs, for p_i > 0; +inf when q_i == 0."""
    if q_i == 0.0:
        return math.inf
    return math.log(p_i) - math.log(q_i)


def rel_entr(p, q):
    """My own elementwise relative entropy (scipy.special.rel_entr is not used).

    Returns a list: 0.0 where p_i = 0, p_i * ln(p_i / q_i) elsewhere.
    """
    return [0.0 if p_i == 0.0 else p_i * log_ratio(p_i, q_i)
            for p_i, q_i in zip(map(float, p), map(float, q))]


def kl_terms(p, q):
    """Per-outcome contributions p_i * ln(p_i / q_i) to D(p || q), in nats.

    Nothing from kl_helpers or scipy is used: the terms come from my own rel_entr above.
    """
    return np.asarray(rel_entr(p, q), dtype=float)

# %% ex1_bar_chart
# Exercise 1 (b): the contributions of P_ex1 against Q_ex1
P_ex1 = np.array([0.5, 0.25, 0.15, 0.1])
Q_ex1 = np.array([0.25, 0.25, 0.25, 0.25])


def report_contributions(p, q, title):
    """Print each contribution and their sum, and draw them as bars around a line at 0."""
    contributions = kl_terms(p, q)
    for x, value in enumerate(contributions):
        sign = "negative" if value < 0 else "positive" if value > 0 else "zero"
        print(f"x = {x}: {value:+.4f} nats ({sign})")
    print(f"sum of the contributions: {contributions.sum():.4f} nats")
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.bar([str(x) for x in range(contributions.size)], contributions,
           color=["tab:red" if value < 0 else "tab:blue" for value in contributions])
    ax.axhline(0.0, color="black", linewidth=1.0)
    ax.set_xlabel("outcome x")
    ax.set_ylabel("contribution to D(P || Q) (nats)")
    ax.set_title(title)
    fig.tight_layout()
    plt.show()
    return contributions


contributions_ex1 = report_contributions(P_ex1, Q_ex1, "P_ex1 against Q_ex1")

# %% ex2_kl_in_base
def recursive_sum(values):
    """Sum a list by splitting it in halves and calling itself on each half."""
    if len(values) <= 2:
        return sum(values, 0.0)
    middle = len(values) // 2
    return recursive_sum(values[:middle]) + recursive_sum(values[middle:])


def log_of_base(base):
    """The factor that converts nats to units of log_base (1 for nats)."""
    return 1.0 if base is None else math.log(base)


def kl_in_base(p, q, base=None):
    """Kullback-Leibler divergence D(p || q) in nats, or in units of log_base.

    Uses my kl_terms (Exercise 1); nothing from kl_helpers.
    """
    pointwise_terms = kl_terms(p, q)  # a local variable named like a course-library routine
    nats = recursive_sum([float(term) for term in pointwise_terms])
    return nats / log_of_base(base)

# %% ex3_mc_kl_estimate
class RecipeSampler:
    """Draws outcomes exactly as the course recipe does: a new generator per call."""

    def __init__(self, seed):
        self.seed = seed

    def draw(self, p, n_samples):
        rng = np.random.default_rng(self.seed)
        return rng.choice(len(p), size=n_samples, p=p)


def sampled_log_ratios(p, q, n_samples, seed):
    """ln p(x_i) - ln q(x_i) for the draws x_i of the recipe (a list of floats)."""
    p = [float(v) for v in p]
    q = [float(v) for v in q]
    outcomes = RecipeSampler(seed).draw(p, n_samples)
    return [log_ratio(p[x], q[x]) for x in outcomes]


def mc_kl_estimate(p, q, n_samples, seed):
    """Monte Carlo estimate of D(p || q) = E_{x ~ p}[ln(p(x) / q(x))], in nats."""
    return math.fsum(sampled_log_ratios(p, q, n_samples, seed)) / n_samples

# %% ex3_running_kl_estimate
from itertools import accumulate


def running_kl_estimate(p, q, n_samples, seed):
    """Running Monte Carlo estimates of D(p || q) after 1, 2, ..., n_samples draws, in nats."""
    partial_sums = accumulate(sampled_log_ratios(p, q, n_samples, seed))
    return np.array([total / count for count, total in enumerate(partial_sums, start=1)])

# %% ex3_convergence_plot
# Exercise 3 (c): convergence of the running estimate for the running example
n_plot = 50_000


def exact_kl_and_sigma(p, q):
    """D(p || q) and the standard deviation of one log-ratio under p, both exact."""
    ratios = [log_ratio(p_x, q_x) for p_x, q_x in zip(p, q) if p_x > 0]
    weights = [p_x for p_x in p if p_x > 0]
    mean = sum(w * r for w, r in zip(weights, ratios))
    spread = math.sqrt(sum(w * (r - mean) ** 2 for w, r in zip(weights, ratios)))
    return mean, spread


def plot_convergence(p, q, n, seed):
    estimates = running_kl_estimate(p, q, n, seed)
    exact, sigma = exact_kl_and_sigma(p, q)
    n_axis = np.arange(1, n + 1)
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    ax.plot(n_axis, estimates, linewidth=0.8, label=f"running estimate (seed {seed})")
    ax.axhline(exact, color="black", label="exact D(P || Q)")
    ax.plot(n_axis, exact + 2 * sigma / np.sqrt(n_axis), "r:", label=r"exact $\pm 2\sigma/\sqrt{n}$")
    ax.plot(n_axis, exact - 2 * sigma / np.sqrt(n_axis), "r:")
    ax.set_xscale("log")
    ax.set_ylim(-0.45, 0.35)
    ax.set_xlabel("number of samples n (log scale)")
    ax.set_ylabel("KL estimate (nats)")
    ax.legend()
    fig.tight_layout()
    plt.show()
    print(f"exact {exact:.6f} nats, sigma {sigma:.4f}, final estimate {estimates[-1]:.6f}")


plot_convergence(p_wiki, q_wiki, n_plot, 2024)
