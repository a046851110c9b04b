# %% ex1_vae_kl
def entropy(log_var):
    """My own helper (not kl_helpers' entropy): the differential entropy, in nats, of a
    Gaussian with log-variance log_var, per coordinate, from scipy's stats.norm.entropy."""
    return stats.norm.entropy(scale=np.exp(0.5 * np.asarray(log_var, dtype=float)))


def cross_entropy_to_prior(mu, log_var):
    """E_q[-log N(z; 0, 1)] per coordinate, for q = N(mu, exp(log_var)): 0.5 ln 2 pi + (mu^2 + sigma^2) / 2."""
    mu = np.asarray(mu, dtype=float)
    return 0.5 * np.log(2 * np.pi) + 0.5 * (mu**2 + np.exp(np.asarray(log_var, dtype=float)))


def vae_kl(mu, log_var):
    """KL(N(mu_i, diag(exp(log_var_i))) || N(0, I)) for each row i, in nats.

    KL = cross-entropy to the prior minus the entropy of q, dimension by dimension, summed
    over the latent dimensions. Nothing from kl_helpers is used.
    """
    per_dimension = cross_entropy_to_prior(mu, log_var) - entropy(log_var)
    return np.sum(per_dimension, axis=-1)

# %% ex2_distillation_loss
def log_softmax(logits):
    """My own log-softmax (scipy has one of this name, forbidden here): z - m - log(sum exp(z - m))."""
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def kl_from_logits(logits_p, logits_q):
    """My own row-wise KL(softmax(logits_p) || softmax(logits_q)) in nats (the course library
    has a function of this name; it is not used)."""
    log_p = log_softmax(logits_p)
    log_q = log_softmax(logits_q)
    return np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)


class DistillationBatch:
    """A batch of student and teacher logits with the true labels."""

    def __init__(self, student_logits, teacher_logits, labels):
        self.student = np.asarray(student_logits, dtype=float)
        self.teacher = np.asarray(teacher_logits, dtype=float)
        self.labels = np.asarray(labels, dtype=int)

    def soft_terms(self, T):
        """T^2 KL(softmax(z_t / T) || softmax(z_s / T)) per example: the teacher first."""
        return T**2 * kl_from_logits(self.teacher / T, self.student / T)

    def hard_terms(self):
        """-log softmax(z_s)_y per example, at temperature 1."""
        rows = np.arange(self.labels.size)
        return -log_softmax(self.student)[rows, self.labels]


def distillation_loss(student_logits, teacher_logits, labels, temperature, alpha):
    """Distillation loss (Hinton et al. 2015), averaged over the batch, in nats.

    Own computation with numpy; nothing from kl_helpers, no ready-made softmax.
    """
    batch = DistillationBatch(student_logits, teacher_logits, labels)
    per_example = (alpha * batch.soft_terms(float(temperature))
                   + (1 - alpha) * batch.hard_terms())
    return float(per_example.mean())

# %% ex3_soft_target_gradient
def soft_target_gradient(student_logits, teacher_logits, temperature):
    """Gradient of T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) w.r.t. z_s, row by row.

    d/dz_s of KL is (q_s - p_t) / T, so the scaled soft term has gradient T (q_s - p_t).
    """
    T = float(temperature)
    q_s = np.exp(log_softmax(np.asarray(student_logits, dtype=float) / T))
    p_t = np.exp(log_softmax(np.asarray(teacher_logits, dtype=float) / T))
    return T * (q_s - p_t)

# %% ex4_elbo_gaussian
def expected_gaussian_loglik(a, m, s, sd):
    """E_{z ~ N(m, s^2)}[log N(a; z, sd^2)] = -ln(sd sqrt(2 pi)) - ((a - m)^2 + s^2) / (2 sd^2)."""
    return -math.log(sd * math.sqrt(2 * math.pi)) - ((a - m) ** 2 + s**2) / (2 * sd**2)


def elbo(m, s, x, noise_sd):
    """My own ELBO of q = N(m, s^2) for the conjugate model (the course library has a
    function of this name; it is not used): expected log-likelihood + expected log-prior +
    entropy of q."""
    observations = np.atleast_1d(np.asarray(x, dtype=float))
    likelihood = math.fsum(expected_gaussian_loglik(x_i, m, s, noise_sd) for x_i in observations)
    prior = expected_gaussian_loglik(0.0, m, s, 1.0)
    return likelihood + prior + float(stats.norm.entropy(loc=m, scale=s))


def elbo_gaussian(m, s, x, noise_sd):
    """ELBO of q = N(m, s^2) for z ~ N(0, 1), x_i | z ~ N(z, noise_sd^2), in nats."""
    return float(elbo(float(m), float(s), x, float(noise_sd)))

# %% ex5_coding_cost_bits
def ideal_code_lengths_bits(q):
    """My own ideal code lengths -log2 q_i, in bits (+inf for q_i = 0: no code word)."""
    return [math.inf if q_i == 0 else -math.log2(q_i) for q_i in map(float, q)]


def cross_entropy(p, q, base=2):
    """My own cross-entropy: the average ideal code length for q on symbols from p, in units
    of log(base) (bits by default). Symbols with p_i = 0 cost nothing."""
    lengths = ideal_code_lengths_bits(q)
    bits = math.fsum(p_i * length for p_i, length in zip(map(float, p), lengths) if p_i > 0)
    return bits if base == 2 else bits * math.log(2) / math.log(base)


def coding_cost_bits(p, q):
    """Average code length (bits per symbol) of the ideal code for q on symbols from p."""
    return cross_entropy(p, q, base=2)
