"""kl_helpers.interactive: the three movable figures, their numbers and their sliders.

The numbers each figure prints are checked against independent sources (scipy's
quadrature of the KL integrand, the closed forms of a mixture's moments, the PPO
formulas written out here); the sliders are checked to redraw with the moved value.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
from scipy import integrate, stats

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402 -- after choosing the headless backend

from kl_helpers import interactive  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _quad_kl(logpdf_a, logpdf_b, low, high) -> float:
    """D(a || b) by adaptive quadrature of a log(a / b)."""
    def integrand(x):
        log_a = logpdf_a(x)
        return math.exp(log_a) * (log_a - logpdf_b(x))
    return integrate.quad(integrand, low, high, limit=200, epsabs=1e-12, epsrel=1e-10)[0]


def _mixture_logpdf(d):
    return lambda x: float(np.logaddexp(stats.norm.logpdf(x, -d / 2, 1),
                                        stats.norm.logpdf(x, d / 2, 1)) + math.log(0.5))


@pytest.mark.parametrize("params", [(0.0, 1.0, 1.0, 2.0), (-2.0, 0.5, 1.5, 3.0)])
def test_gaussian_pair_title_gives_both_directions(params):
    """The title's two KLs are D(p||q) and D(q||p) to the printed 3 decimals."""
    mu_p, sigma_p, mu_q, sigma_q = params
    _, ax = interactive.draw_gaussian_pair(*params)
    log_p = lambda x: stats.norm.logpdf(x, mu_p, sigma_p)  # noqa: E731
    log_q = lambda x: stats.norm.logpdf(x, mu_q, sigma_q)  # noqa: E731
    forward = _quad_kl(log_p, log_q, -40, 40)
    backward = _quad_kl(log_q, log_p, -40, 40)
    assert ax.get_title() == (f"D(p‖q) = {forward:.3f} nats,   "
                              f"D(q‖p) = {backward:.3f} nats")
    assert ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.get_lines()) == 2


@pytest.mark.parametrize("d", [0.0, 2.0, 6.0, 9.0])
def test_forward_fit_matches_the_mixture_moments(d):
    """The forward fit is N(0, 1 + d^2/4) and its KL agrees with quadrature."""
    mu, sigma, kl = interactive.mixture_fits(d)["forward"]
    assert mu == pytest.approx(0.0, abs=1e-12)
    assert sigma**2 == pytest.approx(1 + d**2 / 4, rel=1e-12)
    log_fit = lambda x: stats.norm.logpdf(x, mu, sigma)  # noqa: E731
    assert kl == pytest.approx(_quad_kl(_mixture_logpdf(d), log_fit, -d - 12, d + 12),
                               abs=1e-6)


def test_reverse_fit_seeks_a_mode_once_the_modes_are_apart():
    """Far apart modes: the reverse fit is one mode, N(d/2, 1), at about ln 2 nats."""
    mu, sigma, kl = interactive.mixture_fits(10.0)["reverse"]
    assert mu == pytest.approx(5.0, abs=1e-3) and sigma == pytest.approx(1.0, abs=1e-3)
    assert kl == pytest.approx(math.log(2), abs=1e-3)


@pytest.mark.parametrize("d", [2.0, 6.0])
def test_reverse_fit_is_the_lower_local_minimum(d):
    """The reverse fit's KL (checked by quadrature) is below nearby points and the other basin."""
    mu, sigma, kl = interactive.mixture_fits(d)["reverse"]
    log_mix = _mixture_logpdf(d)

    def reverse(m, s):
        return _quad_kl(lambda x: stats.norm.logpdf(x, m, s), log_mix, m - 15 * s, m + 15 * s)

    assert kl == pytest.approx(reverse(mu, sigma), abs=1e-6)
    for dm, ds in ((0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)):
        assert reverse(mu + dm, sigma + ds) > kl
    centred = reverse(0.0, math.sqrt(1 + d**2 / 4))
    assert kl <= centred + 1e-9


def test_ppo_curves_follow_the_formulas():
    """Clipped: min(rA, clip(r)A); penalised: rA - beta((r - 1) - ln r)."""
    r = np.array([0.1, 0.5, 0.8, 1.0, 1.1, 1.3, 2.5])
    for advantage in (1.0, -1.0, 2.5):
        clipped, penalised = interactive.ppo_objective_curves(r, advantage, 0.2, 0.7)
        for i, ratio in enumerate(r):
            expected_clip = min(ratio * advantage, min(max(ratio, 0.8), 1.2) * advantage)
            assert clipped[i] == pytest.approx(expected_clip, abs=1e-15)
            kl_estimate = (ratio - 1) - math.log(ratio)
            assert penalised[i] == pytest.approx(ratio * advantage - 0.7 * kl_estimate,
                                                 abs=1e-14)


@pytest.mark.parametrize("advantage, beta", [(1.0, 2.0), (-1.0, 2.0), (0.5, 4.0)])
def test_ppo_figure_marks_the_penalised_maximum(advantage, beta):
    """The marked peak is the grid's argmax of the penalised curve, beta / (beta - A)."""
    _, ax = interactive.draw_ppo_objectives(0.2, beta, advantage)
    marker = next(line for line in ax.get_lines() if line.get_marker() == "o")
    r = np.linspace(0.05, 3.0, 200_001)
    _, penalised = interactive.ppo_objective_curves(r, advantage, 0.2, beta)
    assert marker.get_xdata()[0] == pytest.approx(r[np.argmax(penalised)], abs=1e-4)


def test_ppo_figure_has_no_maximum_when_beta_is_at_most_a():
    """With beta <= A the penalised objective keeps growing: nothing is marked."""
    _, ax = interactive.draw_ppo_objectives(0.2, 1.0, 1.0)
    assert not [line for line in ax.get_lines() if line.get_marker() == "o"]


def test_ppo_clipped_curve_is_flat_outside_the_range_for_a_good_action():
    """With A > 0 nothing is gained beyond r = 1 + eps; with beta = 0 the penalty is off."""
    r = np.linspace(1.25, 3.0, 8)
    clipped, penalised = interactive.ppo_objective_curves(r, 1.0, 0.25, 0.0)
    assert np.all(clipped == 1.25)
    assert np.allclose(penalised, r)


@pytest.mark.parametrize("call, message", [
    (lambda: interactive.draw_gaussian_pair(0, -1, 0, 1), "sigma_p"),
    (lambda: interactive.draw_gaussian_pair(0, 1, float("nan"), 1), "mu_q"),
    (lambda: interactive.mixture_fits(-1.0), "separation"),
    (lambda: interactive.ppo_objective_curves([1.0], 1.0, 1.5, 1.0), "epsilon"),
    (lambda: interactive.ppo_objective_curves([1.0], 1.0, 0.2, -1.0), "beta"),
    (lambda: interactive.ppo_objective_curves([0.0, 1.0], 1.0, 0.2, 1.0), "ratio"),
])
def test_bad_input_is_named(call, message):
    """Each invalid argument raises ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("explore, slider, value, expected_text", [
    (interactive.explore_gaussian_pair, "mu_q", 2.5, "q = N(2.5, 2²)"),
    (interactive.explore_mixture_fits, "separation", 3.0, "Modes 3 apart"),
    (interactive.explore_ppo_objectives, "beta", 3.0, "penalised, β = 3"),
])
def test_moving_a_slider_redraws_with_its_value(explore, slider, value, expected_text,
                                                monkeypatch):
    """Each slider change draws the figure again, showing the new value."""
    shown = []

    def record_show(*args, **kwargs):
        figure = plt.gcf()
        shown.append(" ".join([*(ax.get_title() for ax in figure.axes),
                               *(text.get_text() for ax in figure.axes
                                 if ax.get_legend() for text in ax.get_legend().get_texts())]))
        plt.close(figure)

    monkeypatch.setattr(plt, "show", record_show)
    widget = explore()
    sliders = dict(zip(widget.kwargs, widget.kwargs_widgets, strict=True))
    assert all(control.continuous_update is False for control in sliders.values())
    before = len(shown)
    sliders[slider].value = value  # an observed change: the widget redraws by itself
    assert len(shown) == before + 1
    assert expected_text in shown[-1]
    assert expected_text not in shown[0]  # the first drawing, at the default values


def test_numbers_the_notebooks_quote():
    """01: D(q||p) is about three times D(p||q); 03: the reverse fit jumps between d = 5.5 and 6."""
    from kl_helpers import gaussian_kl

    ratio = float(gaussian_kl(1.0, 2.0, 0.0, 1.0) / gaussian_kl(0.0, 1.0, 1.0, 2.0))
    assert round(ratio) == 3
    centred = interactive.mixture_fits(5.5)["reverse"]
    on_a_mode = interactive.mixture_fits(6.0)["reverse"]
    assert abs(centred[0]) < 1e-3
    assert on_a_mode[0] > 2.5 and on_a_mode[2] == pytest.approx(math.log(2), abs=0.01)
    for d in (4.0, 4.5, 5.0):
        assert abs(interactive.mixture_fits(d)["reverse"][0]) < 1e-3
    for d in (6.5, 7.0):
        assert interactive.mixture_fits(d)["reverse"][0] > 2.5
