# %% ex1_kl_terms
def kl_terms(p, q):
    """Per-outcome contributions p_i * ln(p_i / q_i) to D(p || q), in nats (a plain loop)."""
    terms = []
    for p_i, q_i in zip(p, q):
        p_i = float(p_i)
        q_i = float(q_i)
        if p_i == 0.0:
            terms.append(0.0)  # 0 * log(0 / q_i) = 0, also for q_i = 0
        elif q_i == 0.0:
            terms.append(math.inf)  # p_i > 0 = q_i
        else:
            terms.append(p_i * (math.log(p_i) - math.log(q_i)))
    return np.array(terms, dtype=float)

# %% ex1_bar_chart
# Exercise 1 (b): the contributions of P_ex1 against Q_ex1
P_ex1 = np.array([0.5, 0.25, 0.15, 0.1])
Q_ex1 = np.array([0.25, 0.25, 0.25, 0.25])

# Draw a bar chart of kl_terms(P_ex1, Q_ex1) and print each contribution and the sum
contributions_ex1 = kl_terms(P_ex1, Q_ex1)
total_ex1 = 0.0
for x in range(len(contributions_ex1)):
    print(f"x = {x}: P = {P_ex1[x]:.2f}, Q = {Q_ex1[x]:.2f}, "
          f"contribution = {contributions_ex1[x]:+.4f} nats")
    total_ex1 += contributions_ex1[x]
print(f"sum = {total_ex1:+.4f} nats")

bar_colors = []
for value in contributions_ex1:
    bar_colors.append("tab:green" if value > 0 else ("tab:red" if value < 0 else "grey"))
fig, ax = plt.subplots(figsize=(6.0, 3.6))
ax.bar(range(len(contributions_ex1)), contributions_ex1, color=bar_colors)
ax.axhline(0.0, color="black", linewidth=0.8)
ax.set_xticks(range(len(contributions_ex1)))
ax.set_xlabel("outcome x")
ax.set_ylabel(r"contribution $P(x)\ln\frac{P(x)}{Q(x)}$ (nats)")
ax.set_title(f"Contributions of P_ex1 against Q_ex1 (sum {total_ex1:.4f} nats)")
fig.tight_layout()
plt.show()

# %% ex2_kl_in_base
def kl_in_base(p, q, base=None):
    """Kullback-Leibler divergence D(p || q) in nats, or in units of log_base."""
    nats = 0.0
    for term in kl_terms(p, q):
        nats += float(term)
    if base is None:
        return nats
    return nats / math.log(base)

# %% ex3_mc_kl_estimate
def mc_kl_estimate(p, q, n_samples, seed):
    """Monte Carlo estimate of D(p || q) = E_{x ~ p}[ln(p(x) / q(x))], in nats."""
    rng = np.random.default_rng(seed)
    outcomes = rng.choice(len(p), size=n_samples, p=p)
    total = 0.0
    for x in outcomes:
        p_x = float(p[x])
        q_x = float(q[x])
        if q_x == 0.0:
            return math.inf  # a drawn outcome that q rules out
        total += math.log(p_x) - math.log(q_x)
    return total / n_samples

# %% ex3_running_kl_estimate
def running_kl_estimate(p, q, n_samples, seed):
    """Running Monte Carlo estimates of D(p || q) after 1, 2, ..., n_samples draws, in nats."""
    rng = np.random.default_rng(seed)
    outcomes = rng.choice(len(p), size=n_samples, p=p)
    running = []
    total = 0.0
    for j, x in enumerate(outcomes):
        q_x = float(q[x])
        if q_x == 0.0:
            total = math.inf
        else:
            total += math.log(float(p[x])) - math.log(q_x)
        running.append(total / (j + 1))
    return np.array(running, dtype=float)

# %% ex3_convergence_plot
# Exercise 3 (c): convergence of the running estimate for the running example
n_plot = 50_000
running_plot = running_kl_estimate(p_wiki, q_wiki, n_plot, 2024)

exact_plot = 0.0
for p_x, q_x in zip(p_wiki, q_wiki):
    exact_plot += p_x * math.log(p_x / q_x)
variance_plot = 0.0
for p_x, q_x in zip(p_wiki, q_wiki):
    variance_plot += p_x * (math.log(p_x / q_x) - exact_plot) ** 2
sigma_plot = math.sqrt(variance_plot)

n_axis = list(range(1, n_plot + 1))
upper_band = [exact_plot + 2 * sigma_plot / math.sqrt(n) for n in n_axis]
lower_band = [exact_plot - 2 * sigma_plot / math.sqrt(n) for n in n_axis]

fig, ax = plt.subplots(figsize=(7.5, 4.0))
ax.plot(n_axis, running_plot, color="tab:blue", linewidth=0.8, label="running estimate (seed 2024)")
ax.axhline(exact_plot, color="black", label=f"exact D(P || Q) = {exact_plot:.4f} nats")
ax.fill_between(n_axis, lower_band, upper_band, color="tab:orange", alpha=0.3,
                label=r"exact $\pm 2\sigma/\sqrt{n}$")
ax.set_xscale("log")
ax.set_ylim(-0.45, 0.35)
ax.set_xlabel("number of samples n")
ax.set_ylabel("estimate of D(P || Q) (nats)")
ax.set_title("Monte Carlo estimate of the KL divergence")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
print(f"exact {exact_plot:.6f}, sigma {sigma_plot:.4f}, last estimate {running_plot[-1]:.6f}")
