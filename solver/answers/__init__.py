"""Answers and checking: the answer types (types), the literal grammar of numbers, shapes,
matrices and booleans (literals), the expression grammar (grammar), table answers (tables),
the tolerance on decimals (tolerance), and the verdict on a student's answer (check).

Imports point down: check -> types -> tables, grammar -> literals; nothing imports check.
"""
