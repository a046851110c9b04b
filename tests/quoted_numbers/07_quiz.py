"""07_quiz: the numbers its questions and criteria quote (see README.md here)."""

# %% after figure-grid
# Questions 7 and 8: the forward-KL optimum matches p's moments (mean 0, variance 1 + 3^2), so
# sigma = sqrt(10) = 3.16; the reverse-KL optimum, found here by scipy from a start near the
# right mode, sits on one mode at mu = 2.98, sigma = 1.02 with D(q || p) = 0.689 < ln 2
import math as fact_math

from scipy import optimize as fact_optimize
from scipy import special as fact_special

fact_mean = np.trapezoid(x_grid * target, x_grid)
fact_var = np.trapezoid((x_grid - fact_mean) ** 2 * target, x_grid)
assert abs(fact_mean) < 1e-9 and abs(fact_var - 10.0) < 1e-4
assert f"{fact_math.sqrt(fact_var):.2f}" == "3.16"


def fact_reverse_kl(params):
    mean, log_sd = params
    log_q = normal_logpdf(x_grid, mean, np.exp(log_sd))
    return np.trapezoid(np.exp(log_q) * (log_q - log_target), x_grid)


fact_fit = fact_optimize.minimize(fact_reverse_kl, x0=[2.0, 0.0], method="Nelder-Mead",
                                  options={"xatol": 1e-8, "fatol": 1e-12})
fact_mu, fact_sd = fact_fit.x[0], float(np.exp(fact_fit.x[1]))
assert (f"{fact_mu:.2f}", f"{fact_sd:.2f}", f"{fact_fit.fun:.3f}") == ("2.98", "1.02", "0.689")
assert fact_fit.fun < np.log(2.0)
# the fit from the other side lands on the mirror image, mu = -2.98
fact_left = fact_optimize.minimize(fact_reverse_kl, x0=[-2.0, 0.0], method="Nelder-Mead")
assert f"{fact_left.x[0]:.2f}" == "-2.98"

# Questions 15 and 17: the wiki pair's divergence both ways and in bits, and its negative term
fact_p, fact_q = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.3, 0.3, 0.3, 0.1])
fact_terms = fact_special.rel_entr(fact_p, fact_q)
assert f"{fact_terms[2]:.4f}" == "-0.0811"
assert (f"{fact_terms.sum():.4f}", f"{fact_terms.sum() / np.log(2):.4f}",
        f"{fact_special.rel_entr(fact_q, fact_p).sum():.4f}") == ("0.0340", "0.0490", "0.0353")
