# %% ex2_kl_objectives
def _log_mixture(x):
    """log p(x) for the mixture, by logsumexp over the weighted component log-densities."""
    component_logs = (np.log(WEIGHTS)[:, None]
                      + stats.norm.logpdf(np.asarray(x)[None, :], MEANS[:, None], SIGMAS[:, None]))
    return special.logsumexp(component_logs, axis=0)


LOG_P_GRID = _log_mixture(X_GRID)


def kl_gaussian_fit_forward(mu, sigma):
    '''Forward KL D(p || q) from the mixture p to q = N(mu, sigma^2), in nats.'''
    log_q = stats.norm.logpdf(X_GRID, loc=mu, scale=sigma)
    return float(np.trapezoid(np.exp(LOG_P_GRID) * (LOG_P_GRID - log_q), X_GRID))


def kl_gaussian_fit_reverse(mu, sigma):
    '''Reverse KL D(q || p) from q = N(mu, sigma^2) to the mixture p, in nats.'''
    log_q = stats.norm.logpdf(X_GRID, loc=mu, scale=sigma)
    return float(np.trapezoid(np.exp(log_q) * (log_q - LOG_P_GRID), X_GRID))

# %% ex3_fits
def fit_forward(mu0, sigma0):
    '''Minimise the forward KL D(p || N(mu, sigma^2)) from the start (mu0, sigma0).'''
    result = optimize.minimize(lambda t: kl_gaussian_fit_forward(t[0], np.exp(t[1])),
                               x0=np.array([mu0, np.log(sigma0)]), method="BFGS")
    mu, log_sigma = result.x
    return [float(mu), float(np.exp(log_sigma))]


def fit_reverse(mu0, sigma0):
    '''Minimise the reverse KL D(N(mu, sigma^2) || p) from the start (mu0, sigma0).'''
    result = optimize.minimize(lambda t: kl_gaussian_fit_reverse(t[0], np.exp(t[1])),
                               x0=np.array([mu0, np.log(sigma0)]), method="BFGS")
    mu, log_sigma = result.x
    return [float(mu), float(np.exp(log_sigma))]
