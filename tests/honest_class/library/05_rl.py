# %% ex1_k_estimators
def _log_r(logp, logq):
    return np.asarray(logp, dtype=float) - np.asarray(logq, dtype=float)


def k1_per_sample(logp, logq):
    """Per-sample k1 estimate of KL(q || p): -log r, with r = p(x) / q(x) and x ~ q."""
    return -_log_r(logp, logq)


def k2_per_sample(logp, logq):
    """Per-sample k2 estimate of KL(q || p): (log r)^2 / 2, with r = p(x) / q(x) and x ~ q."""
    return 0.5 * np.square(_log_r(logp, logq))


def k3_per_sample(logp, logq):
    """Per-sample k3 estimate of KL(q || p): (r - 1) - log r, with r = p(x) / q(x) and x ~ q."""
    log_r = _log_r(logp, logq)
    return np.expm1(log_r) - log_r

# %% ex2_ppo_kl_penalty
def ppo_kl_penalty(pi_old, pi_new, actions, advantages, beta):
    """PPO's KL-penalised surrogate L^KLPEN (Schulman et al. 2017, Eq. 8), to maximise."""
    pi_old = np.asarray(pi_old, dtype=float)
    pi_new = np.asarray(pi_new, dtype=float)
    actions = np.asarray(actions, dtype=int)
    advantages = np.asarray(advantages, dtype=float)
    taken_new = np.take_along_axis(pi_new, actions[:, None], axis=1)[:, 0]
    taken_old = np.take_along_axis(pi_old, actions[:, None], axis=1)[:, 0]
    ratios = taken_new / taken_old                       # not clipped
    kl_old_new = np.sum(pi_old * (np.log(pi_old) - np.log(pi_new)), axis=1)
    return float(np.mean(ratios * advantages - beta * kl_old_new))

# %% ex3_adapt_beta
def adapt_beta(beta, kl, kl_target):
    """PPO's adaptive KL coefficient (Schulman et al. 2017, section 4)."""
    factor = np.select([kl < kl_target / 1.5, kl > 1.5 * kl_target], [0.5, 2.0], default=1.0)
    return float(beta * factor)

# %% ex3_ppo_training
def ppo_kl_penalty_training(logits, success_probs, states, uniforms, beta, kl_target,
                            learning_rate, n_epochs):
    """PPO with the adaptive KL penalty on a contextual bandit, with scipy and numpy."""
    theta = np.array(logits, dtype=float)
    p = np.asarray(success_probs, dtype=float)
    n_actions = p.shape[1]
    history = np.zeros((len(states), 3))
    for i, (s, u) in enumerate(zip(np.asarray(states, dtype=int), np.asarray(uniforms))):
        log_old = special.log_softmax(theta, axis=1)
        old = np.exp(log_old)
        a = np.array([np.searchsorted(np.cumsum(old[si])[:-1], ui, side="right")
                      for si, ui in zip(s, u[:, 0])])
        reward = (u[:, 1] < p[s, a]).astype(float)
        same_state = s[:, None] == s[None, :]
        advantage = reward - same_state @ reward / same_state.sum(axis=1)
        onehot_state = np.eye(p.shape[0])[s]                 # (n, S)
        for _ in range(n_epochs):
            log_pi = special.log_softmax(theta, axis=1)
            pi = np.exp(log_pi)
            rho = np.exp(log_pi[s, a] - log_old[s, a])
            per_sample = (rho * advantage)[:, None] * (np.eye(n_actions)[a] - pi[s])
            per_sample -= beta * (pi[s] - old[s])
            theta = theta + learning_rate * onehot_state.T @ per_sample / len(s)
        log_new = special.log_softmax(theta, axis=1)
        kl = np.mean(np.sum(old[s] * (log_old[s] - log_new[s]), axis=1))
        beta = adapt_beta(beta, kl, kl_target)
        history[i] = kl, beta, np.mean(np.sum(np.exp(log_new) * p, axis=1))
    return history

# %% ex4_group_advantages
def group_normalized_advantages(rewards):
    """GRPO outcome-supervision advantages (r_i - mean(r)) / std(r) for one group."""
    rewards = np.asarray(rewards, dtype=float)
    if np.all(rewards == rewards[0]):
        return np.zeros_like(rewards)
    return (rewards - rewards.mean()) / rewards.std(ddof=0)

# %% ex5_grpo_objective
def grpo_token_objective(logp_new, logp_old, logp_ref, advantages, mask, epsilon=0.2, beta=0.04):
    """GRPO objective J of one group (DeepSeekMath, Eq. 3 with the k3 KL of Eq. 4), to maximise."""
    mask = np.asarray(mask).astype(bool)
    logp_new = np.asarray(logp_new, dtype=float)
    # padded positions may hold anything: replace them by 0 before exponentiating
    log_rho = np.where(mask, logp_new - np.asarray(logp_old, dtype=float), 0.0)
    log_x = np.where(mask, np.asarray(logp_ref, dtype=float) - logp_new, 0.0)
    rho = np.exp(log_rho)
    adv = np.asarray(advantages, dtype=float)[:, None]
    surrogate = np.minimum(rho * adv, np.clip(rho, 1.0 - epsilon, 1.0 + epsilon) * adv)
    k3 = np.expm1(log_x) - log_x
    per_token = np.where(mask, surrogate - beta * k3, 0.0)
    per_output = per_token.sum(axis=1) / mask.sum(axis=1)
    return float(per_output.mean())
