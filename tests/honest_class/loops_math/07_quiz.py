# %% q01_answer
import math

# Question 1: set answer_q1 to the letter you choose, as a string
answer_q1 = "C"

# %% q02_answer
# Question 2: set answer_q2 to the letter you choose, as a string
answer_q2 = "D"

# %% q03_answer
# Question 3: set answer_q3 to the letter you choose, as a string
answer_q3 = "A"

# %% q04_answer
# Question 4: set answer_q4 to the letter you choose, as a string
answer_q4 = "C"

# %% q05_answer
# Question 5: set answer_q5 to the value in bits, as a float
P_q5 = np.array([0.5, 0.25, 0.25])
Q_q5 = np.array([0.25, 0.25, 0.5])
bits = 0.0
for p_x, q_x in zip(P_q5, Q_q5):
    bits += float(p_x) * math.log2(float(p_x) / float(q_x))
answer_q5 = bits
print(answer_q5)

# %% q06_answer
# Question 6: set answer_q6 to the letter you choose, as a string
answer_q6 = "B"

# %% q07_answer
# Question 7: set answer_q7 to the letter you choose, as a string
answer_q7 = "B"

# %% q08_answer
# Question 8: set answer_q8 to the letter you choose, as a string
answer_q8 = "D"

# %% q09_answer
# Question 9: set answer_q9 to the letter you choose, as a string
answer_q9 = "A"

# %% q10_answer
# Question 10: set answer_q10 to the letter you choose, as a string
answer_q10 = "A"

# %% q11_answer
# Question 11: set answer_q11 to the letter you choose, as a string
answer_q11 = "D"

# %% q12_answer
# Question 12: set answer_q12 to the letter you choose, as a string
answer_q12 = "C"

# %% q13_answer
# Question 13: set answer_q13 to the letter you choose, as a string
answer_q13 = "A"

# %% q14_answer
# Question 14: set answer_q14 to the letter you choose, as a string
answer_q14 = "C"

# %% q15_answer
# Question 15: set answer_q15 to the letter you choose, as a string
answer_q15 = "B"

# %% q16_answer
# Question 16: set answer_q16 to the letter you choose, as a string
answer_q16 = "D"

# %% q18_answer
# Question 18: set answer_q18 to the value in nats, as a float
epsilon_q18 = 1e-6
P_q18 = np.array([0.5, 0.5])
Q_q18 = np.array([1.0 - epsilon_q18, epsilon_q18])
nats = 0.0
for p_x, q_x in zip(P_q18, Q_q18):
    nats += float(p_x) * (math.log(float(p_x)) - math.log(float(q_x)))
answer_q18 = nats
print(answer_q18)
