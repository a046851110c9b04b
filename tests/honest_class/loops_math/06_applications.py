# %% ex1_vae_kl
def vae_kl(mu, log_var):
    """KL(N(mu_i, diag(exp(log_var_i))) || N(0, I)) for each row i, in nats."""
    result = []
    for mu_row, log_var_row in zip(mu, log_var):
        total = 0.0
        for m, lv in zip(mu_row, log_var_row):
            m = float(m)
            lv = float(lv)
            total += 1.0 + lv - m * m - math.exp(lv)  # sigma^2 = exp(log_var)
        result.append(-0.5 * total)
    return np.array(result, dtype=float)

# %% ex2_distillation_loss
def distillation_loss(student_logits, teacher_logits, labels, temperature, alpha):
    """Distillation loss (Hinton et al. 2015), averaged over the batch, in nats."""

    def log_probs(row):
        # stable log-softmax written out: z_i - m - log(sum_j exp(z_j - m))
        m = max(row)
        log_total = math.log(sum(math.exp(z - m) for z in row))
        return [(z - m) - log_total for z in row]

    T = float(temperature)
    losses = []
    for z_s, z_t, y in zip(student_logits, teacher_logits, labels):
        z_s = [float(v) for v in z_s]
        z_t = [float(v) for v in z_t]
        log_p_t = log_probs([v / T for v in z_t])  # teacher, softened
        log_q_s = log_probs([v / T for v in z_s])  # student, softened
        soft = 0.0
        for lp, lq in zip(log_p_t, log_q_s):
            soft += math.exp(lp) * (lp - lq)  # KL(teacher || student)
        hard = -log_probs(z_s)[int(y)]       # cross-entropy with the label, at T = 1
        losses.append(alpha * T * T * soft + (1.0 - alpha) * hard)
    return sum(losses) / len(losses)

# %% ex3_soft_target_gradient
def soft_target_gradient(student_logits, teacher_logits, temperature):
    """Gradient of T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) w.r.t. z_s, row by row."""

    def probabilities(row, T):
        scaled = [float(v) / T for v in row]
        m = max(scaled)
        weights = [math.exp(v - m) for v in scaled]
        total = sum(weights)
        return [w / total for w in weights]

    T = float(temperature)
    rows = []
    for z_s, z_t in zip(student_logits, teacher_logits):
        q_s = probabilities(z_s, T)
        p_t = probabilities(z_t, T)
        rows.append([T * (a - b) for a, b in zip(q_s, p_t)])  # T^2 * (q_s - p_t) / T
    return np.array(rows, dtype=float)

# %% ex4_elbo_gaussian
def elbo_gaussian(m, s, x, noise_sd):
    """ELBO of q = N(m, s^2) for z ~ N(0, 1), x_i | z ~ N(z, noise_sd^2), in nats."""
    try:
        x = list(x)
    except TypeError:  # a single observation
        x = [x]
    variance = noise_sd * noise_sd
    total = 0.0
    for x_i in x:
        x_i = float(x_i)
        # E_q[log N(x_i; z, noise_sd^2)], with E_q[(x_i - z)^2] = (x_i - m)^2 + s^2
        total += -0.5 * math.log(2 * math.pi * variance) - ((x_i - m) ** 2 + s * s) / (2 * variance)
    # E_q[log N(z; 0, 1)], with E_q[z^2] = m^2 + s^2
    total += -0.5 * math.log(2 * math.pi) - (m * m + s * s) / 2
    # entropy of q
    total += math.log(s * math.sqrt(2 * math.pi * math.e))
    return total

# %% ex5_coding_cost_bits
def coding_cost_bits(p, q):
    """Average code length (bits per symbol) of the ideal code for q on symbols from p."""
    bits = 0.0
    for p_i, q_i in zip(p, q):
        p_i = float(p_i)
        q_i = float(q_i)
        if p_i == 0.0:
            continue  # a symbol that never occurs costs nothing
        if q_i == 0.0:
            return math.inf  # no code word for a symbol that occurs
        bits += p_i * -math.log2(q_i)
    return bits
