# %% ex1_k_estimators
def log_ratio(logp, logq):
    """log r = log p(x) - log q(x), elementwise, as a float array."""
    return np.asarray(logp, dtype=float) - np.asarray(logq, dtype=float)


def k1_estimator(log_r):
    """My own k1 from log r (the course library has a function of this name; not used)."""
    return -np.asarray(log_r, dtype=float)


def k2_estimator(log_r):
    """My own k2 from log r."""
    return 0.5 * np.asarray(log_r, dtype=float) ** 2


def k3_estimator(log_r):
    """My own k3 from log r: (r - 1) - log r, with expm1 for ratios near 1."""
    log_r = np.asarray(log_r, dtype=float)
    return np.expm1(log_r) - log_r


def k1_per_sample(logp, logq):
    """Per-sample k1 estimate of KL(q || p): -log r, with r = p(x) / q(x) and x ~ q.

    Nothing from kl_helpers: my helpers above.
    """
    return k1_estimator(log_ratio(logp, logq))


def k2_per_sample(logp, logq):
    """Per-sample k2 estimate of KL(q || p): (log r)^2 / 2, with r = p(x) / q(x) and x ~ q."""
    return k2_estimator(log_ratio(logp, logq))


def k3_per_sample(logp, logq):
    """Per-sample k3 estimate of KL(q || p): (r - 1) - log r, with r = p(x) / q(x) and x ~ q."""
    return k3_estimator(log_ratio(logp, logq))

# %% ex2_ppo_kl_penalty
def kl_divergence(p, q):
    """My own discrete KL(p || q) in nats for strictly positive p and q (not kl_helpers')."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    return float(np.sum(p * (np.log(p) - np.log(q))))


class Sample:
    """One PPO sample: the two policies in its state, the action taken and its advantage."""

    def __init__(self, old_row, new_row, action, advantage):
        self.old_row = np.asarray(old_row, dtype=float)
        self.new_row = np.asarray(new_row, dtype=float)
        self.action = int(action)
        self.advantage = float(advantage)

    def ratio(self):
        return self.new_row[self.action] / self.old_row[self.action]

    def penalised_term(self, beta):
        # KL from the old policy to the new one, over every action of the state
        return self.ratio() * self.advantage - beta * kl_divergence(self.old_row, self.new_row)


def ppo_kl_penalty(pi_old, pi_new, actions, advantages, beta):
    """PPO's KL-penalised surrogate L^KLPEN (Schulman et al. 2017, Eq. 8), to maximise.

    Own computation (my Sample class and my kl_divergence helper), nothing from kl_helpers.
    """
    samples = [Sample(*row) for row in zip(pi_old, pi_new, actions, advantages)]
    return float(np.mean([sample.penalised_term(beta) for sample in samples]))

# %% ex3_adapt_beta
def adapt_beta(beta, kl, kl_target):
    """PPO's adaptive KL coefficient (Schulman et al. 2017, section 4).

    The band [kl_target / 1.5, 1.5 kl_target] keeps beta; its two ends are inside it.
    """
    lower, upper = kl_target / 1.5, 1.5 * kl_target
    if lower <= kl <= upper:
        return float(beta)
    return float(beta / 2 if kl < lower else beta * 2)

# %% ex3_ppo_training
def softmax_rows(logits):
    """My own row-wise softmax (stable: the row maximum is subtracted first)."""
    z = np.asarray(logits, dtype=float)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def draw_batch(pi_old, success_probs, states, uniforms):
    """Actions by inverse-CDF sampling and 0/1 rewards, from the given uniform numbers."""
    cdf = np.cumsum(pi_old[states], axis=1)[:, :-1]
    actions = (cdf <= uniforms[:, [0]]).sum(axis=1)
    rewards = np.where(uniforms[:, 1] < success_probs[states, actions], 1.0, 0.0)
    return actions, rewards


def baseline_advantages(states, rewards, n_states):
    """Reward minus the mean reward of the batch's samples in the same state."""
    means = np.zeros(n_states)
    for s in np.unique(states):
        means[s] = rewards[states == s].mean()
    return rewards - means[states]


def klpen_gradient(theta, pi_old, states, actions, advantages, beta):
    """Gradient of mean_t [rho_t A_t - beta KL(pi_old || pi_theta)] with respect to the logits."""
    pi = softmax_rows(theta)
    rho = pi[states, actions] / pi_old[states, actions]
    grad = np.zeros_like(theta)
    for t, (s, a) in enumerate(zip(states, actions)):
        push = -pi[s].copy()
        push[a] += 1.0
        grad[s] += rho[t] * advantages[t] * push - beta * (pi[s] - pi_old[s])
    return grad / len(states)


def ppo_kl_penalty_training(logits, success_probs, states, uniforms, beta, kl_target,
                            learning_rate, n_epochs):
    """PPO with the adaptive KL penalty, built from my helpers above."""
    theta = np.array(logits, dtype=float)
    success_probs = np.asarray(success_probs, dtype=float)
    rows = []
    for batch_states, batch_u in zip(np.asarray(states, dtype=int), np.asarray(uniforms)):
        pi_old = softmax_rows(theta)
        actions, rewards = draw_batch(pi_old, success_probs, batch_states, batch_u)
        advantages = baseline_advantages(batch_states, rewards, success_probs.shape[0])
        for _ in range(int(n_epochs)):
            theta = theta + learning_rate * klpen_gradient(theta, pi_old, batch_states,
                                                           actions, advantages, beta)
        pi_new = softmax_rows(theta)
        kl = np.mean([np.sum(pi_old[s] * np.log(pi_old[s] / pi_new[s])) for s in batch_states])
        beta = adapt_beta(beta, float(kl), kl_target)
        rows.append((float(kl), beta, float(np.mean(np.sum(pi_new * success_probs, axis=1)))))
    return np.array(rows)

# %% ex4_group_advantages
class RewardGroup:
    """The rewards of one GRPO group."""

    def __init__(self, rewards):
        self.rewards = [float(r) for r in rewards]

    def all_equal(self):
        return len(set(self.rewards)) <= 1

    def mean(self):
        return math.fsum(self.rewards) / len(self.rewards)

    def population_std(self):
        m = self.mean()
        return math.sqrt(math.fsum((r - m) ** 2 for r in self.rewards) / len(self.rewards))


def group_normalized_advantages(rewards):
    """GRPO outcome-supervision advantages (r_i - mean(r)) / std(r) for one group.

    Population std (divide by G); a group whose rewards are all equal gets zeros.
    """
    group = RewardGroup(rewards)
    if group.all_equal():
        return np.zeros(len(group.rewards))
    m, s = group.mean(), group.population_std()
    return np.array([(r - m) / s for r in group.rewards])

# %% ex5_grpo_objective
def clipped_surrogate(rho, advantage, epsilon):
    """min(rho A, clip(rho, 1 - eps, 1 + eps) A), elementwise."""
    return np.minimum(rho * advantage, np.clip(rho, 1 - epsilon, 1 + epsilon) * advantage)


def grpo_token_objective(logp_new, logp_old, logp_ref, advantages, mask, epsilon=0.2, beta=0.04):
    """GRPO objective J of one group (DeepSeekMath, Eq. 3 with the k3 KL of Eq. 4), to maximise.

    Output by output: only the real tokens (mask 1) are kept; the per-token penalty is my own
    k3_estimator with log r = log(pi_ref / pi_theta). Nothing from kl_helpers.
    """
    per_output = []
    for new, old, ref, advantage, keep in zip(logp_new, logp_old, logp_ref, advantages, mask):
        keep = np.asarray(keep).astype(bool)
        new = np.asarray(new, dtype=float)[keep]
        old = np.asarray(old, dtype=float)[keep]
        ref = np.asarray(ref, dtype=float)[keep]
        rho = np.exp(new - old)
        tokens = clipped_surrogate(rho, float(advantage), epsilon) - beta * k3_estimator(ref - new)
        per_output.append(tokens.mean())  # (1 / |o_i|) sum over the real tokens
    return float(np.mean(per_output))
