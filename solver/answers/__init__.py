"""Answers and checking: the answer types (types), the literal grammar of numbers, shapes,
matrices and booleans (literals), the expression grammar and its dialects (grammar:
formulas, numbers as arithmetic, a convolution's target formulas), table answers (tables),
the tolerance on decimals (tolerance), and the verdict on a student's answer (check).

Imports point down: check -> types -> tables, grammar -> literals; nothing imports check.
"""
