"""Figures that students can move: the course's three sliders, and their static versions.

Each figure is one drawing function that takes its parameters as plain numbers and draws
into a matplotlib figure, so that a notebook can show it twice:

* once **static**, at the values its text discusses (``draw_gaussian_pair(0, 1, 1, 2)``):
  that image is what a feedback page, a rendered copy on a website or a printout shows;
* once **interactive** (``explore_gaussian_pair()``): ipywidgets sliders that redraw it.

The three figures:

* `draw_gaussian_pair` (notebook 01): two Gaussians ``p = N(mu_p, sigma_p^2)`` and
  ``q = N(mu_q, sigma_q^2)``, with both directions ``D(p || q)`` and ``D(q || p)`` from the
  closed form, so the asymmetry is seen as the means and widths move;
* `draw_mixture_fits` (notebook 03): a two-mode mixture ``0.5 N(-d/2, 1) + 0.5 N(d/2, 1)``
  with its forward-KL fit (moment matching: one wide Gaussian) and its reverse-KL fit
  (one mode), as the modes separate;
* `draw_ppo_objectives` (notebook 05): for one sample with advantage ``A``, PPO's clipped
  surrogate ``min(r A, clip(r, 1 - eps, 1 + eps) A)`` and the penalised surrogate
  ``r A - beta k3(r)`` as functions of the ratio ``r``, where ``k3(r) = (r - 1) - log r``
  is the per-sample estimate of ``KL[pi_old, pi_theta]`` (samples drawn from the old
  policy, as in notebook 05).

matplotlib and ipywidgets are imported when a function runs, not with ``kl_helpers``.
All values are in nats.
"""

from __future__ import annotations

import numpy as np

from . import fitting, rl
from ._validation import (
    nonnegative_scalar,
    positive_array,
    positive_scalar,
    real_scalar,
    unit_fraction,
)
from .closed_forms import gaussian_kl

__all__ = ["draw_gaussian_pair", "draw_mixture_fits", "draw_ppo_objectives",
           "explore_gaussian_pair", "explore_mixture_fits", "explore_ppo_objectives",
           "mixture_fits", "ppo_objective_curves"]



def _new_axes(ax, figsize=(7.0, 4.0)):
    """``ax`` and its figure, or a new figure with one axes (pyplot, so notebooks show it)."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def draw_gaussian_pair(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float, *, ax=None):
    """Densities of ``p = N(mu_p, sigma_p^2)`` and ``q = N(mu_q, sigma_q^2)``, both KLs shown.

    The title gives ``D(p || q)`` and ``D(q || p)`` in nats (`closed_forms.gaussian_kl`);
    the x range covers both densities to 4 standard deviations.

    Args:
        mu_p, mu_q: finite means.
        sigma_p, sigma_q: standard deviations > 0 (not variances).
        ax: a matplotlib axes to draw into; by default a new figure.

    Returns:
        ``(figure, axes)``.

    Raises:
        ValueError: naming the argument, for a non-finite mean or a sigma <= 0.
    """
    mu_p, mu_q = real_scalar(mu_p, "mu_p"), real_scalar(mu_q, "mu_q")
    sigma_p, sigma_q = positive_scalar(sigma_p, "sigma_p"), positive_scalar(sigma_q, "sigma_q")
    from scipy import stats

    low = min(mu_p - 4 * sigma_p, mu_q - 4 * sigma_q)
    high = max(mu_p + 4 * sigma_p, mu_q + 4 * sigma_q)
    x = np.linspace(low, high, 600)
    kl_pq = float(gaussian_kl(mu_p, sigma_p, mu_q, sigma_q))
    kl_qp = float(gaussian_kl(mu_q, sigma_q, mu_p, sigma_p))
    fig, ax = _new_axes(ax)
    ax.plot(x, stats.norm.pdf(x, mu_p, sigma_p), label=f"p = N({mu_p:g}, {sigma_p:g}²)")
    ax.plot(x, stats.norm.pdf(x, mu_q, sigma_q), label=f"q = N({mu_q:g}, {sigma_q:g}²)",
            linestyle="--")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(f"D(p‖q) = {kl_pq:.3f} nats,   D(q‖p) = {kl_qp:.3f} nats")
    ax.legend(loc="upper right")
    return fig, ax


def mixture_fits(separation: float) -> dict[str, tuple[float, float, float]]:
    """Forward and reverse KL fits of one Gaussian to ``0.5 N(-d/2, 1) + 0.5 N(d/2, 1)``.

    Args:
        separation: the distance ``d >= 0`` between the two modes.

    Returns:
        ``{"forward": (mu, sigma, D(p || q)), "reverse": (mu, sigma, D(q || p))}``: the
        forward fit matches the mixture's mean and variance (``sigma^2 = 1 + d^2 / 4``);
        the reverse fit is the lower of the two local minima that BFGS
        (`fitting.fit_gaussian_reverse`) reaches from the right-hand mode ``(d/2, 1)``
        and from the forward fit: one mode once the modes are well apart, the centre
        while they overlap.

    Raises:
        ValueError: for a negative or non-finite separation.
    """
    d = nonnegative_scalar(separation, "separation")
    mixture = ([0.5, 0.5], [-d / 2, d / 2], [1.0, 1.0])
    mu_f, sigma_f = (float(v) for v in fitting.fit_gaussian_forward(*mixture))
    # the reverse KL has several local minima when the modes are apart: try both basins
    candidates = []
    for start in ((d / 2, 1.0), (mu_f, sigma_f)):
        mu_r, sigma_r = (float(v) for v in fitting.fit_gaussian_reverse(*start, *mixture))
        kl = float(fitting.reverse_kl_gaussian_fit(mu_r, sigma_r, *mixture))
        candidates.append((kl, mu_r, sigma_r))
    kl_r, mu_r, sigma_r = min(candidates)
    kl_f = float(fitting.forward_kl_gaussian_fit(mu_f, sigma_f, *mixture))
    return {"forward": (mu_f, sigma_f, kl_f), "reverse": (mu_r, sigma_r, kl_r)}


def draw_mixture_fits(separation: float, *, ax=None):
    """The mixture ``0.5 N(-d/2, 1) + 0.5 N(d/2, 1)`` and its forward and reverse KL fits.

    Args:
        separation: the distance ``d >= 0`` between the modes.
        ax: a matplotlib axes to draw into; by default a new figure.

    Returns:
        ``(figure, axes)``.

    Raises:
        ValueError: for a negative or non-finite separation.
    """
    fits = mixture_fits(separation)
    from scipy import stats

    d = nonnegative_scalar(separation, "separation")
    x = np.linspace(-d / 2 - 5, d / 2 + 5, 800)
    mixture = 0.5 * stats.norm.pdf(x, -d / 2, 1) + 0.5 * stats.norm.pdf(x, d / 2, 1)
    fig, ax = _new_axes(ax)
    ax.fill_between(x, mixture, color="0.85", label="p: the two-mode mixture")
    for key, style, words in (("forward", "-", "forward fit, min D(p‖q)"),
                              ("reverse", "--", "reverse fit, min D(q‖p)")):
        mu, sigma, kl = fits[key]
        ax.plot(x, stats.norm.pdf(x, mu, sigma), linestyle=style,
                # round(...) + 0.0: a centred fit reads N(0.00, ...), never N(-0.00, ...)
                label=f"{words}: N({round(mu, 2) + 0.0:.2f}, {sigma:.2f}²), {kl:.3f} nats")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(f"Modes {d:g} apart")
    # headroom above the tallest curve, so the legend never hides the narrow reverse fit
    ax.set_ylim(0.0, 1.5 * max(line.get_ydata().max() for line in ax.get_lines()))
    ax.legend(loc="upper center", fontsize="small")
    return fig, ax


def ppo_objective_curves(ratio, advantage: float, epsilon: float, beta: float):
    """Per-sample clipped and KL-penalised PPO surrogates at each ratio ``r``.

    Args:
        ratio: array-like of ratios ``r = pi_theta(a|s) / pi_old(a|s) > 0``.
        advantage: the sample's advantage ``A`` (any finite number).
        epsilon: clip range, ``0 < epsilon < 1``.
        beta: penalty coefficient, ``>= 0``.

    Returns:
        ``(clipped, penalised)``: arrays of the shape of ``ratio``, with
        ``clipped = min(r A, clip(r, 1 - eps, 1 + eps) A)`` and
        ``penalised = r A - beta ((r - 1) - log r)`` (k3 of ``KL[pi_old, pi_theta]``).

    Raises:
        ValueError: naming the argument, as `rl.ppo_clip_objective`, or for a negative
            or non-finite beta.
    """
    eps = unit_fraction(epsilon, "epsilon")
    a = real_scalar(advantage, "advantage")
    b = nonnegative_scalar(beta, "beta")
    r = positive_array(ratio, "ratio", what="a ratio of probabilities")
    clipped = np.minimum(r * a, np.clip(r, 1.0 - eps, 1.0 + eps) * a)
    penalised = r * a - b * rl.k3_estimator(np.log(r))
    return clipped, penalised


def draw_ppo_objectives(epsilon: float, beta: float, advantage: float = 1.0, *, ax=None):
    """PPO's clipped and penalised surrogates of one sample as functions of ``r`` in (0, 3].

    Args:
        epsilon: clip range, ``0 < epsilon < 1``.
        beta: penalty coefficient, ``>= 0``.
        advantage: the sample's advantage ``A`` (+1: a good action, -1: a bad one).
        ax: a matplotlib axes to draw into; by default a new figure.

    Returns:
        ``(figure, axes)``.

    Raises:
        ValueError: as `ppo_objective_curves`.
    """
    r = np.linspace(0.05, 3.0, 400)
    clipped, penalised = ppo_objective_curves(r, advantage, epsilon, beta)
    fig, ax = _new_axes(ax)
    ax.plot(r, clipped, label=f"clipped, ε = {epsilon:g}")
    ax.plot(r, penalised, linestyle="--", label=f"penalised, β = {beta:g}")
    if beta > advantage:
        # where the penalised objective peaks: A - beta (1 - 1/r) = 0 (none when beta <= A)
        r_star = beta / (beta - advantage)
        if r[0] <= r_star <= r[-1]:
            peak = ppo_objective_curves([r_star], advantage, epsilon, beta)[1][0]
            ax.plot([r_star], [peak], "o", color="tab:orange",
                    label=f"penalised maximum, r = {r_star:.2f}")
    ax.axvspan(1 - epsilon, 1 + epsilon, color="0.9", label="clip range")
    ax.axvline(1.0, color="grey", linewidth=0.8)
    ax.set_xlabel("ratio r = π_θ(a|s) / π_old(a|s)")
    ax.set_ylabel(f"surrogate objective of one sample (A = {advantage:g})")
    ax.set_title("What each objective rewards as the new policy moves away")
    ax.legend(loc="best", fontsize="small")
    return fig, ax


# ---------------------------------------------------------------------------------------
# Sliders
# ---------------------------------------------------------------------------------------


def _explore(draw, **sliders):
    """ipywidgets sliders that call ``draw(**values)`` and show its figure on each change."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(**values) -> None:
        draw(**values)
        plt.show()  # the inline backend shows the figure in the widget's output, then closes

    # continuous_update=False: redraw once the slider is released, not on every pixel
    for slider in sliders.values():
        slider.continuous_update = False
    return widgets.interactive(show, **sliders)


def explore_gaussian_pair():
    """Sliders for `draw_gaussian_pair`: the means in [-4, 4], the sigmas in [0.2, 4].

    Args:
        none: the sliders start at the values the notebook's static figure shows.

    Returns:
        ``ipywidgets.interactive``: display it (the last line of a cell); the figure is
        drawn again each time a slider is released.

    Raises:
        ImportError: without ipywidgets (it is in the course's environment).
    """
    import ipywidgets as widgets

    def slider(value, low, high, name):
        return widgets.FloatSlider(value=value, min=low, max=high, step=0.1, description=name)

    return _explore(draw_gaussian_pair, mu_p=slider(0.0, -4, 4, "μ_p"),
                    sigma_p=slider(1.0, 0.2, 4, "σ_p"), mu_q=slider(1.0, -4, 4, "μ_q"),
                    sigma_q=slider(2.0, 0.2, 4, "σ_q"))


def explore_mixture_fits():
    """A slider for `draw_mixture_fits`: the distance between the modes, 0 to 10.

    Args:
        none: the sliders start at the values the notebook's static figure shows.

    Returns:
        ``ipywidgets.interactive``: display it (the last line of a cell); the figure is
        drawn again each time a slider is released.

    Raises:
        ImportError: without ipywidgets (it is in the course's environment).
    """
    import ipywidgets as widgets

    return _explore(draw_mixture_fits, separation=widgets.FloatSlider(
        value=6.0, min=0.0, max=10.0, step=0.5, description="distance"))


def explore_ppo_objectives():
    """Sliders for `draw_ppo_objectives`: epsilon, beta and the sign of the advantage.

    Args:
        none: the sliders start at the values the notebook's static figure shows.

    Returns:
        ``ipywidgets.interactive``: display it (the last line of a cell); the figure is
        drawn again each time a slider is released.

    Raises:
        ImportError: without ipywidgets (it is in the course's environment).
    """
    import ipywidgets as widgets

    return _explore(
        draw_ppo_objectives,
        epsilon=widgets.FloatSlider(value=0.2, min=0.05, max=0.5, step=0.05, description="ε"),
        beta=widgets.FloatSlider(value=2.0, min=0.0, max=5.0, step=0.25, description="β"),
        advantage=widgets.FloatSlider(value=1.0, min=-1.0, max=1.0, step=2.0,
                                      description="A"))
