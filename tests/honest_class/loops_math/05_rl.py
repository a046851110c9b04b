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

# %% ex3_ppo_training
def ppo_kl_penalty_training(logits, success_probs, states, uniforms, beta, kl_target,
                            learning_rate, n_epochs):
    """PPO with the adaptive KL penalty on a contextual bandit, written with plain loops."""
    theta = [[float(z) for z in row] for row in logits]
    p = [[float(x) for x in row] for row in success_probs]
    n_states, n_actions = len(p), len(p[0])

    def policy(rows):
        result = []
        for row in rows:
            top = max(row)
            e = [math.exp(z - top) for z in row]
            total = sum(e)
            result.append([x / total for x in e])
        return result

    history = []
    for batch_states, batch_u in zip(states, uniforms):
        old = policy(theta)
        samples = []
        for s, (u_action, u_reward) in zip(batch_states, batch_u):
            s = int(s)
            a, cumulative = 0, 0.0
            for prob in old[s][:-1]:
                cumulative += prob
                if cumulative <= u_action:
                    a += 1
            reward = 1.0 if u_reward < p[s][a] else 0.0
            samples.append((s, a, reward))
        sums, counts = [0.0] * n_states, [0] * n_states
        for s, _, reward in samples:
            sums[s] += reward
            counts[s] += 1
        advantages = [reward - sums[s] / counts[s] for s, _, reward in samples]
        n = len(samples)
        for _ in range(n_epochs):
            pi = policy(theta)
            grad = [[0.0] * n_actions for _ in range(n_states)]
            for (s, a, _), adv in zip(samples, advantages):
                rho = pi[s][a] / old[s][a]
                for b in range(n_actions):
                    indicator = 1.0 if b == a else 0.0
                    grad[s][b] += (rho * adv * (indicator - pi[s][b])
                                   - beta * (pi[s][b] - old[s][b])) / n
            theta = [[z + learning_rate * g for z, g in zip(row, grow)]
                     for row, grow in zip(theta, grad)]
        new = policy(theta)
        kl = 0.0
        for s, _, _ in samples:
            kl += sum(o * (math.log(o) - math.log(q)) for o, q in zip(old[s], new[s])) / n
        beta = adapt_beta(beta, kl, kl_target)
        expected = sum(sum(q * x for q, x in zip(new[s], p[s])) for s in range(n_states))
        history.append([kl, beta, expected / n_states])
    return np.array(history)

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
