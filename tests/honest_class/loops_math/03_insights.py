# %% ex2_kl_objectives
# log p(x) of the mixture at every grid point: a plain loop, one logsumexp per point
GRID_POINTS = [float(x) for x in X_GRID]
LOG_P_VALUES = []
for x in GRID_POINTS:
    component_logs = []
    for w, m, s in zip(WEIGHTS, MEANS, SIGMAS):
        component_logs.append(math.log(w) - 0.5 * ((x - m) / s) ** 2 - math.log(s)
                              - 0.5 * math.log(2 * math.pi))
    LOG_P_VALUES.append(float(special.logsumexp(component_logs)))


def kl_gaussian_fit_forward(mu, sigma):
    '''Forward KL D(p || q) from the mixture p to q = N(mu, sigma^2), in nats.'''
    integrand = []
    log_norm = math.log(sigma) + 0.5 * math.log(2 * math.pi)
    for x, log_p in zip(GRID_POINTS, LOG_P_VALUES):
        log_q = -0.5 * ((x - mu) / sigma) ** 2 - log_norm
        integrand.append(math.exp(log_p) * (log_p - log_q))
    return float(np.trapezoid(integrand, X_GRID))


def kl_gaussian_fit_reverse(mu, sigma):
    '''Reverse KL D(q || p) from q = N(mu, sigma^2) to the mixture p, in nats.'''
    integrand = []
    log_norm = math.log(sigma) + 0.5 * math.log(2 * math.pi)
    for x, log_p in zip(GRID_POINTS, LOG_P_VALUES):
        log_q = -0.5 * ((x - mu) / sigma) ** 2 - log_norm
        integrand.append(math.exp(log_q) * (log_q - log_p))
    return float(np.trapezoid(integrand, X_GRID))

# %% ex3_fits
def fit_forward(mu0, sigma0):
    '''Minimise the forward KL D(p || N(mu, sigma^2)) from the start (mu0, sigma0).'''
    def objective(theta):
        return kl_gaussian_fit_forward(theta[0], math.exp(theta[1]))

    result = optimize.minimize(objective, [mu0, math.log(sigma0)])
    return [float(result.x[0]), math.exp(result.x[1])]


def fit_reverse(mu0, sigma0):
    '''Minimise the reverse KL D(N(mu, sigma^2) || p) from the start (mu0, sigma0).'''
    def objective(theta):
        return kl_gaussian_fit_reverse(theta[0], math.exp(theta[1]))

    result = optimize.minimize(objective, [mu0, math.log(sigma0)])
    return [float(result.x[0]), math.exp(result.x[1])]
