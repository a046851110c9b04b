"""kl_helpers: the reference implementation behind the KL divergence course.

The package namespace holds the core: discrete divergences (`kl_divergence`,
`pointwise_terms`, `entropy`, `cross_entropy`), numerically stable logit versions
(`log_softmax`, `softmax`, `kl_from_logits`) and closed forms for Gaussian and Bernoulli
families (`gaussian_kl`, `mvn_kl`, `bernoulli_kl`, `diag_gaussian_kl_to_standard_normal`).
One submodule per later topic of the course:

- `kl_helpers.monte_carlo`: sampling estimates of D(P || Q) and their standard errors (02);
- `kl_helpers.fitting`: forward and reverse KL fits of a Gaussian to a mixture (03);
- `kl_helpers.rl`: k1/k2/k3 estimators, PPO, TRPO and GRPO objectives, a KL-regularised
  bandit (05);
- `kl_helpers.applications`: VAE, distillation, ELBO and coding-cost helpers (06);
- `kl_helpers.checks`: what the graded tests use to refuse delegated answers;
- `kl_helpers.selfcheck`: `check(func)`, the students' self-check that names likely mistakes;
- `kl_helpers.interactive`: the figures with sliders of 01, 03 and 05, and their static
  versions.

Results are in nats unless a ``base`` is given (``base=2`` gives bits). Inputs are never
renormalised: invalid input raises ``ValueError`` with a message naming the argument.

>>> from kl_helpers import kl_divergence
>>> round(float(kl_divergence([0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.3, 0.1])), 7)
0.0339798
"""

from . import (
    applications,
    checks,
    closed_forms,
    divergences,
    fitting,
    interactive,
    monte_carlo,
    rl,
    selfcheck,
)
from .closed_forms import *  # noqa: F403 -- the public names listed in closed_forms.__all__
from .divergences import *  # noqa: F403 -- the public names listed in divergences.__all__
from .selfcheck import SelfCheckFailed, check  # noqa: F401 -- for students; not star-exported

__all__ = [*divergences.__all__, *closed_forms.__all__]
# the topic submodules, imported above so that `kl_helpers.rl.k3_estimator` always works
SUBMODULES = (monte_carlo, fitting, rl, applications, checks, selfcheck, interactive)
