"""01_definition: the numbers its text quotes (see README.md here)."""

# %% after wiki-correction-check
# what the page's code really gives, at the 4 decimals of its print, against scipy
assert f"{kl_pq:.4f}" == "0.0340"
assert abs(kl_pq - special.rel_entr(p_wiki, q_wiki).sum()) < 1e-15
# none of the four readings of the page's claimed 0.0915 comes within 0.03 of it
assert all(abs(value - wiki_claimed_value) > 0.03 for value in candidates.values())

# %% after ex3-demo
# the density of N(0, 1) underflows to exactly 0 just past x_zero, not before
assert stats.norm.pdf(x_zero + 0.01) == 0.0 < stats.norm.pdf(x_zero - 0.01)
assert f"{log10_outside:.0f}" == "-349" and f"{x_zero:.1f}" == "38.6"
# the tail mass 2 Phi(-40), against the asymptotic series of the Mills ratio
# Phi(-x) = phi(x) / x * (1 - 1/x^2 + 3/x^4 - ...), whose next term is ~1e-8 at x = 40
log_tail = (math.log(2) - 800 - 0.5 * math.log(2 * math.pi) - math.log(40)
            + math.log(1 - 1 / 40**2 + 3 / 40**4))
assert abs(log10_outside - log_tail / math.log(10)) < 1e-7
