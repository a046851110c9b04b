# %% ex1_kl_terms
def kl_terms(p, q):
    """Per-outcome contributions p_i * ln(p_i / q_i) to D(p || q), in nats (vectorised)."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log p - log q: -inf for q_i = 0 gives +inf; the p_i = 0 entries are masked out
        return np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)

# %% ex1_bar_chart
# Exercise 1 (b): the contributions of P_ex1 against Q_ex1
P_ex1 = np.array([0.5, 0.25, 0.15, 0.1])
Q_ex1 = np.array([0.25, 0.25, 0.25, 0.25])

# Draw a bar chart of kl_terms(P_ex1, Q_ex1) and print each contribution and the sum
terms_ex1 = kl_terms(P_ex1, Q_ex1)
print("contributions (nats):", np.array2string(terms_ex1, precision=4, sign="+"))
print(f"sum: {terms_ex1.sum():.4f} nats")

fig, ax = plt.subplots(figsize=(6.0, 3.6))
ax.bar(np.arange(terms_ex1.size), terms_ex1,
       color=np.where(terms_ex1 >= 0, "tab:green", "tab:red"))
for x, value in enumerate(terms_ex1):
    ax.annotate(f"{value:+.4f}", (x, value), ha="center",
                va="bottom" if value >= 0 else "top", fontsize=8)
ax.axhline(0.0, color="black", linewidth=0.8)
ax.set_xticks(np.arange(terms_ex1.size))
ax.set_xlabel("outcome x")
ax.set_ylabel("P(x) ln(P(x) / Q(x)) (nats)")
ax.set_title("Per-outcome contributions to D(P_ex1 || Q_ex1)")
fig.tight_layout()
plt.show()

# %% ex2_kl_in_base
def kl_in_base(p, q, base=None):
    """Kullback-Leibler divergence D(p || q) in nats, or in units of log_base."""
    nats = float(np.sum(kl_terms(p, q)))
    return nats if base is None else nats / float(np.log(base))

# %% ex3_mc_kl_estimate
def _drawn_log_ratios(p, q, n_samples, seed):
    """The course recipe: a fresh generator, then n_samples draws from p; ln p - ln q of each."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    rng = np.random.default_rng(seed)
    outcomes = rng.choice(len(p), size=n_samples, p=p)
    with np.errstate(divide="ignore"):
        return np.log(p[outcomes]) - np.log(q[outcomes])  # +inf where q = 0


def mc_kl_estimate(p, q, n_samples, seed):
    """Monte Carlo estimate of D(p || q) = E_{x ~ p}[ln(p(x) / q(x))], in nats."""
    return float(np.mean(_drawn_log_ratios(p, q, n_samples, seed)))

# %% ex3_running_kl_estimate
def running_kl_estimate(p, q, n_samples, seed):
    """Running Monte Carlo estimates of D(p || q) after 1, 2, ..., n_samples draws, in nats."""
    log_ratios = _drawn_log_ratios(p, q, n_samples, seed)
    return np.cumsum(log_ratios) / np.arange(1, n_samples + 1)

# %% ex3_convergence_plot
# Exercise 3 (c): convergence of the running estimate for the running example
n_plot = 50_000
estimates_plot = running_kl_estimate(p_wiki, q_wiki, n_plot, 2024)
log_ratio_wiki = np.log(p_wiki) - np.log(q_wiki)
exact_wiki = float(np.dot(p_wiki, log_ratio_wiki))
sigma_wiki = float(np.sqrt(np.dot(p_wiki, (log_ratio_wiki - exact_wiki) ** 2)))
n_values = np.arange(1, n_plot + 1)
half_width = 2 * sigma_wiki / np.sqrt(n_values)

fig, ax = plt.subplots(figsize=(7.5, 4.0))
ax.semilogx(n_values, estimates_plot, linewidth=0.8, label="running estimate, seed 2024")
ax.axhline(exact_wiki, color="black", linestyle="--", label="exact value")
ax.fill_between(n_values, exact_wiki - half_width, exact_wiki + half_width, color="grey",
                alpha=0.3, label=r"$\pm 2\sigma/\sqrt{n}$")
ax.set_ylim(exact_wiki - 0.5, exact_wiki + 0.35)
ax.set_xlabel("n (samples, log scale)")
ax.set_ylabel("estimated D(P || Q) (nats)")
ax.legend()
fig.tight_layout()
plt.show()
print(f"exact = {exact_wiki:.6f} nats, sigma = {sigma_wiki:.4f}, "
      f"estimate after {n_plot} draws = {estimates_plot[-1]:.6f}")
