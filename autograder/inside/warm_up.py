"""Work the kernel template does once, so that no forked kernel pays for it again.

Importing a library is not all of its start-up: matplotlib builds its mathtext parser,
loads its fonts' metrics and sets up its Agg renderer on the first figure a process
draws (about 0.15 s of the first figure's 0.5 s in 01_definition). The template draws
one figure like the course's (two axes, mathtext labels, a legend, a filled area, a log
axis, a tight bounding box) off-screen, before any fork: every kernel forked afterwards
inherits those structures. No pyplot: the kernel chooses its backend itself (see
``autograder.policy.COURSE_LIBRARIES``); this uses the Agg canvas directly.

Nothing here is student-visible state: rcParams are not touched, no figure is kept, and
matplotlib drops its open font files in a forked child (``os.register_at_fork``), so
kernels never share a file offset.
"""

from __future__ import annotations

import io


def draw_figure() -> None:
    """Render one course-like figure to an in-memory PNG and throw it away."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = np.linspace(-3.0, 3.0, 200)
    y = np.exp(-x**2 / 2)
    fig = Figure(figsize=(6.0, 4.0))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(x, y, label=r"$p = \mathcal{N}(0, 1)$")
    top.fill_between(x, y, 0.0, where=y > 0.5, alpha=0.4, label="area")
    top.set_ylabel(r"$D_{\mathrm{KL}}(p\,\|\,q)$ (nats)")
    top.set_title(r"$\frac{p(x)}{q(x)}$, $\sigma^2$, $\hat{\mathbb{E}}_t$")
    top.legend()
    top.annotate("note", (0.0, 1.0), xytext=(1.0, 0.5), arrowprops={"arrowstyle": "->"})
    bottom.semilogy(x, y + 1e-3, "o-", markersize=2, label="log axis")
    bottom.axhline(1.0, color="grey", linewidth=0.8)
    bottom.set_xlabel(r"$\mu$")
    bottom.legend(loc="best")
    fig.tight_layout()
    fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")


#: What the template runs after its imports, in order
WARM_UPS = (draw_figure,)


def run_all() -> list[str]:
    """Run every warm-up; return a line per one that failed (it only costs kernels time)."""
    failures = []
    for warm_up in WARM_UPS:
        try:
            warm_up()
        except Exception as exc:  # a warm-up is an optimisation: never a reason not to grade
            failures.append(f"{warm_up.__name__}: {type(exc).__name__}: {exc}")
    return failures
