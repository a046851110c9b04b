"""Self-check exercises of notebooks 05 and 06 (the RL estimators and objectives;
the VAE, distillation, ELBO and coding-cost functions).

Registered with `kl_helpers.selfcheck` when that module is imported (its last lines
import this one); ``check(func)`` then finds them by the function's name.
"""

from __future__ import annotations
