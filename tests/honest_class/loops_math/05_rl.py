# %% ex1_k_estimators
def k1_per_sample(logp, logq):
    """Per-sample k1 estimate of KL(q || p): -log r, with r = p(x) / q(x) and x ~ q."""
    values = []
    for lp, lq in zip(logp, logq):
        log_r = float(lp) - float(lq)
        values.append(-log_r)
    return np.array(values, dtype=float)


def k2_per_sample(logp, logq):
    """Per-sample k2 estimate of KL(q || p): (log r)^2 / 2, with r = p(x) / q(x) and x ~ q."""
    values = []
    for lp, lq in zip(logp, logq):
        log_r = float(lp) - float(lq)
        values.append(0.5 * log_r * log_r)
    return np.array(values, dtype=float)


def k3_per_sample(logp, logq):
    """Per-sample k3 estimate of KL(q || p): (r - 1) - log r, with r = p(x) / q(x) and x ~ q."""
    values = []
    for lp, lq in zip(logp, logq):
        log_r = float(lp) - float(lq)
        # r - 1 = expm1(log r): exact near r = 1, where exp(log r) - 1 would cancel to noise
        # (and could even give a tiny negative k3)
        values.append(math.expm1(log_r) - log_r)
    return np.array(values, dtype=float)

# %% ex2_ppo_kl_penalty
def ppo_kl_penalty(pi_old, pi_new, actions, advantages, beta):
    """PPO's KL-penalised surrogate L^KLPEN (Schulman et al. 2017, Eq. 8), to maximise."""
    total = 0.0
    n = 0
    for old_row, new_row, action, advantage in zip(pi_old, pi_new, actions, advantages):
        action = int(action)
        ratio = float(new_row[action]) / float(old_row[action])
        kl = 0.0
        for old_a, new_a in zip(old_row, new_row):
            kl += float(old_a) * (math.log(float(old_a)) - math.log(float(new_a)))
        total += ratio * float(advantage) - beta * kl
        n += 1
    return total / n

# %% ex3_adapt_beta
def adapt_beta(beta, kl, kl_target):
    """PPO's adaptive KL coefficient (Schulman et al. 2017, section 4)."""
    if kl < kl_target / 1.5:
        return float(beta) / 2.0
    if kl > 1.5 * kl_target:
        return float(beta) * 2.0
    return float(beta)

# %% ex4_group_advantages
def group_normalized_advantages(rewards):
    """GRPO outcome-supervision advantages (r_i - mean(r)) / std(r) for one group."""
    rewards = [float(r) for r in rewards]
    g = len(rewards)
    all_equal = True
    for r in rewards:
        if r != rewards[0]:
            all_equal = False
    if all_equal:
        return np.zeros(g)
    mean = sum(rewards) / g
    variance = 0.0
    for r in rewards:
        variance += (r - mean) ** 2
    std = math.sqrt(variance / g)  # population std: divide by G
    return np.array([(r - mean) / std for r in rewards])

# %% ex5_grpo_objective
def grpo_token_objective(logp_new, logp_old, logp_ref, advantages, mask, epsilon=0.2, beta=0.04):
    """GRPO objective J of one group (DeepSeekMath, Eq. 3 with the k3 KL of Eq. 4), to maximise."""
    G = len(advantages)
    total = 0.0
    for i in range(G):
        adv = float(advantages[i])
        inner = 0.0
        length = 0
        for t in range(len(mask[i])):
            if not mask[i][t]:
                continue  # padding
            length += 1
            rho = math.exp(float(logp_new[i][t]) - float(logp_old[i][t]))
            clipped = min(max(rho, 1.0 - epsilon), 1.0 + epsilon)
            log_x = float(logp_ref[i][t]) - float(logp_new[i][t])  # log(pi_ref / pi_theta)
            k3 = (math.exp(log_x) - 1.0) - log_x
            inner += min(rho * adv, clipped * adv) - beta * k3
        total += inner / length
    return total / G
