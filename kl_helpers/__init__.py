"""kl_helpers: the reference implementation behind the KL divergence course.

Discrete divergences (`kl_divergence`, `pointwise_terms`, `entropy`, `cross_entropy`),
numerically stable logit versions (`log_softmax`, `softmax`, `kl_from_logits`) and
closed forms for Gaussian and Bernoulli families (`gaussian_kl`, `mvn_kl`, `bernoulli_kl`,
`diag_gaussian_kl_to_standard_normal`).

Results are in nats unless a ``base`` is given (``base=2`` gives bits). Inputs are never
renormalised: invalid input raises ``ValueError`` with a message naming the argument.

>>> from kl_helpers import kl_divergence
>>> round(float(kl_divergence([0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.3, 0.1])), 7)
0.0339798
"""

from . import closed_forms, divergences
from .closed_forms import *  # noqa: F403 -- the public names listed in closed_forms.__all__
from .divergences import *  # noqa: F403 -- the public names listed in divergences.__all__

__all__ = [*divergences.__all__, *closed_forms.__all__]
