"""Self-check exercises of notebooks 01-03 (``gaussian_kl_numeric``; 02's terms, bases and
Monte Carlo estimates; 03's Gaussian fits).

Registered with `kl_helpers.selfcheck` when that module is imported (its last lines
import this one); ``check(func)`` then finds them by the function's name.
"""

from __future__ import annotations
