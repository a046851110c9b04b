# %% ex2_kl_objectives
def gaussian_logpdf(x, mean, sd):
    """log N(x; mean, sd^2) from the formula (sd is a standard deviation)."""
    return -0.5 * ((x - mean) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)


def mixture_logpdf(x, weights, means, sigmas):
    """My own log-density of a Gaussian mixture (the course library has one of this name,
    which is not used here): logsumexp over k of log w_k + log N(x; m_k, s_k^2)."""
    x = np.asarray(x, dtype=float)
    logs = [np.log(w) + gaussian_logpdf(x, m, s) for w, m, s in zip(weights, means, sigmas)]
    return special.logsumexp(np.stack(logs), axis=0)


def kl_on_grid(log_first, log_second):
    """D(first || second) = integral of first * (log first - log second), trapezoid on X_GRID."""
    return float(np.trapezoid(np.exp(log_first) * (log_first - log_second), X_GRID))


class MixtureTarget:
    """The target p of section 4, with its log-density on X_GRID computed once."""

    def __init__(self, weights, means, sigmas):
        self.log_density = mixture_logpdf(X_GRID, weights, means, sigmas)


TARGET = MixtureTarget(WEIGHTS, MEANS, SIGMAS)


def kl_gaussian_fit_forward(mu, sigma):
    '''Forward KL D(p || q) from the mixture p to q = N(mu, sigma^2), in nats.

    Own computation on X_GRID; nothing from kl_helpers is used.
    '''
    return kl_on_grid(TARGET.log_density, gaussian_logpdf(X_GRID, mu, sigma))


def kl_gaussian_fit_reverse(mu, sigma):
    '''Reverse KL D(q || p) from q = N(mu, sigma^2) to the mixture p, in nats.'''
    return kl_on_grid(gaussian_logpdf(X_GRID, mu, sigma), TARGET.log_density)

# %% ex3_fits
class LogSigmaFit:
    """Minimises an objective(mu, sigma) with BFGS over theta = (mu, log sigma)."""

    def __init__(self, objective):
        self.objective = objective

    def __call__(self, mu0, sigma0):
        start = [float(mu0), math.log(sigma0)]
        result = optimize.minimize(lambda theta: self.objective(theta[0], math.exp(theta[1])),
                                   start)
        return [float(result.x[0]), float(math.exp(result.x[1]))]


def fit_forward(mu0, sigma0):
    '''Minimise the forward KL D(p || N(mu, sigma^2)) from the start (mu0, sigma0).'''
    return LogSigmaFit(kl_gaussian_fit_forward)(mu0, sigma0)


def fit_reverse(mu0, sigma0):
    '''Minimise the reverse KL D(N(mu, sigma^2) || p) from the start (mu0, sigma0).'''
    return LogSigmaFit(kl_gaussian_fit_reverse)(mu0, sigma0)
