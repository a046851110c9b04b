# %% q01_answer
import math


class QuizAnswerError(ValueError):
    """An answer that is not one of the letters A to D."""


MY_CHOICES = {1: "C", 2: "D", 3: "A", 4: "C", 6: "B", 7: "B", 8: "D", 9: "A", 10: "A",
              11: "D", 12: "C", 13: "A", 14: "C", 15: "B", 16: "D"}


def choose(question):
    """My letter for a multiple-choice question, checked to be one of A-D."""
    letter = MY_CHOICES[question]
    if letter not in "ABCD":
        raise QuizAnswerError(f"question {question}: {letter!r} is not a letter A-D")
    return letter


def kl_divergence(p, q, base=None):
    """My own D(p || q) (nothing from kl_helpers): nats, or units of log(base)."""
    terms = [p_x * (math.log(p_x) - math.log(q_x)) for p_x, q_x in zip(map(float, p), map(float, q))
             if p_x > 0]
    nats = math.fsum(terms)
    return nats if base is None else nats / math.log(base)


# Question 1: set answer_q1 to the letter you choose, as a string
answer_q1 = choose(1)

# %% q02_answer
# Question 2: set answer_q2 to the letter you choose, as a string
answer_q2 = choose(2)

# %% q03_answer
# Question 3: set answer_q3 to the letter you choose, as a string
answer_q3 = choose(3)

# %% q04_answer
# Question 4: set answer_q4 to the letter you choose, as a string
answer_q4 = choose(4)

# %% q05_answer
# Question 5: set answer_q5 to the value in bits, as a float
P_q5 = np.array([0.5, 0.25, 0.25])
Q_q5 = np.array([0.25, 0.25, 0.5])
answer_q5 = kl_divergence(P_q5, Q_q5, base=2)
print(f"D(P || Q) = {answer_q5:.4f} bits")

# %% q06_answer
# Question 6: set answer_q6 to the letter you choose, as a string
answer_q6 = choose(6)

# %% q07_answer
# Question 7: set answer_q7 to the letter you choose, as a string
answer_q7 = choose(7)

# %% q08_answer
# Question 8: set answer_q8 to the letter you choose, as a string
answer_q8 = choose(8)

# %% q09_answer
# Question 9: set answer_q9 to the letter you choose, as a string
answer_q9 = choose(9)

# %% q10_answer
# Question 10: set answer_q10 to the letter you choose, as a string
answer_q10 = choose(10)

# %% q11_answer
# Question 11: set answer_q11 to the letter you choose, as a string
answer_q11 = choose(11)

# %% q12_answer
# Question 12: set answer_q12 to the letter you choose, as a string
answer_q12 = choose(12)

# %% q13_answer
# Question 13: set answer_q13 to the letter you choose, as a string
answer_q13 = choose(13)

# %% q14_answer
# Question 14: set answer_q14 to the letter you choose, as a string
answer_q14 = choose(14)

# %% q15_answer
# Question 15: set answer_q15 to the letter you choose, as a string
answer_q15 = choose(15)

# %% q16_answer
# Question 16: set answer_q16 to the letter you choose, as a string
answer_q16 = choose(16)

# %% q18_answer
# Question 18: set answer_q18 to the value in nats, as a float
epsilon_q18 = 1e-6
P_q18 = np.array([0.5, 0.5])
Q_q18 = np.array([1.0 - epsilon_q18, epsilon_q18])
answer_q18 = kl_divergence(P_q18, Q_q18)
print(f"D(P || Q) = {answer_q18:.4f} nats: the outcome rare under Q dominates")
