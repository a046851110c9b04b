"""01_definition: the numbers its text quotes (see README.md here)."""

# %% after what-kl-measures
# section 1's surprises, -ln Q(x), and the extra surprise ln(0.4 / 0.3), from scipy's entr
# (entr(q) = -q ln q, so entr(q) / q is the surprise)
surprise = {q: special.entr(q) / q for q in (0.5, 0.1, 0.3, 0.4)}
assert f"{surprise[0.5]:.2f}" == "0.69" and f"{surprise[0.1]:.2f}" == "2.30"
assert f"{surprise[0.3]:.3f}" == "1.204" and f"{surprise[0.4]:.3f}" == "0.916"
assert f"{surprise[0.3] - surprise[0.4]:.3f}" == "0.288"
assert abs((surprise[0.3] - surprise[0.4]) - math.log(0.4 / 0.3)) < 1e-15

# %% after extra-surprise
# the average surprises are the entropy and the cross-entropy: scipy's entropy (normalised
# inputs are fine here), and the cross-entropy as entropy + rel_entr sum
assert abs(average_surprise_p - stats.entropy(p_wiki)) < 1e-14
cross_entropy_scipy = stats.entropy(p_wiki) + special.rel_entr(p_wiki, q_wiki).sum()
assert abs(average_surprise_q - cross_entropy_scipy) < 1e-14
assert f"{average_surprise_q:.4f}" == "1.3138" and f"{average_surprise_p:.4f}" == "1.2799"
assert f"{extra_surprise:.4f}" == "0.0340"

# %% after quick-check-zeros
# P = [1, 0] against Q = [0.5, 0.5]: ln 2 nats = 1 bit one way, +inf the other
assert special.rel_entr([1.0, 0.0], [0.5, 0.5]).sum() == math.log(2)
assert f"{math.log(2):.3f}" == "0.693" and stats.entropy([1.0, 0.0], [0.5, 0.5], base=2) == 1.0
assert np.isposinf(special.rel_entr([0.5, 0.5], [1.0, 0.0]).sum())

# %% after seed-terms
# the negative term of x = 2, against its closed form 0.2 ln(2 / 3)
assert f"{terms[2]:.4f}" == "-0.0811" and abs(terms[2] - 0.2 * math.log(2 / 3)) < 1e-16

# %% after seed-terms-note
# the quick check's unnormalised Q = [0.6, 0.6]: the terms add up to ln(5 / 6)
negative_sum = special.rel_entr([0.5, 0.5], [0.6, 0.6]).sum()
assert f"{negative_sum:.3f}" == "-0.182" and abs(negative_sum - math.log(5 / 6)) < 1e-15

# %% after asymmetry
# both directions, against scipy's entropy (which normalises, harmless for distributions)
assert abs(kl_pq - stats.entropy(p_wiki, q_wiki)) < 1e-15
assert abs(kl_qp - stats.entropy(q_wiki, p_wiki)) < 1e-15
assert f"{kl_pq:.4f}" == "0.0340" and f"{kl_pq / math.log(2):.4f}" == "0.0490"
assert f"{kl_qp:.4f}" == "0.0353" and f"{kl_qp / math.log(2):.4f}" == "0.0510"
# in D(Q || P) the negative term is the one of x = 0
assert special.rel_entr(q_wiki, p_wiki)[0] < 0 < special.rel_entr(q_wiki, p_wiki)[2]

# %% after wiki-correction-check
# what the page's code really gives, at the 4 decimals of its print, against scipy
assert f"{kl_pq:.4f}" == "0.0340"
assert abs(kl_pq - special.rel_entr(p_wiki, q_wiki).sum()) < 1e-15
# none of the four readings of the page's claimed 0.0915 comes within 0.03 of it
assert all(abs(value - wiki_claimed_value) > 0.03 for value in candidates.values())

# %% after figure-check
# Figure 1's caption: 0.4431 nats, the closed form ln 2 + (1 + 1) / 8 - 1/2 written out
assert f"{kl_area:.4f}" == "0.4431"
assert abs(kl_closed_form - (math.log(2) + (1 + 1) / 8 - 0.5)) < 1e-15

# %% after pair-figure
# Figure 2's caption: D(q || p) is about three times D(p || q), from the closed form
# ln(1 / 2) + (4 + 1) / 2 - 1/2 written out
reverse_closed_form = math.log(0.5) + (4 + 1) / 2 - 0.5
assert abs(reverse_closed_form - klh.gaussian_kl(mu_q, sigma_q, mu_p, sigma_p)) < 1e-14
assert 2.5 < reverse_closed_form / kl_closed_form < 3.5

# %% after ex3-demo
# the density of N(0, 1) underflows to exactly 0 just past x_zero, not before
assert stats.norm.pdf(x_zero + 0.01) == 0.0 < stats.norm.pdf(x_zero - 0.01)
assert f"{log10_outside:.0f}" == "-349" and f"{x_zero:.1f}" == "38.6"
# the tail mass 2 Phi(-40), against the asymptotic series of the Mills ratio
# Phi(-x) = phi(x) / x * (1 - 1/x^2 + 3/x^4 - ...), whose next term is ~1e-8 at x = 40
log_tail = (math.log(2) - 800 - 0.5 * math.log(2 * math.pi) - math.log(40)
            + math.log(1 - 1 / 40**2 + 3 / 40**4))
assert abs(log10_outside - log_tail / math.log(10)) < 1e-7
# the tail mass outside the window is far below the smallest positive float64, 2^-1074
assert smallest_float == 2.0**-1074 and f"{smallest_float:.1e}" == "4.9e-324"
assert log10_outside < math.log10(smallest_float) - 20
