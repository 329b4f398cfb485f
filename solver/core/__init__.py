"""The core: errors, the plain data of a solution (model), readers of given fields, the answer
time budget, and the prose of problem files. It imports nothing else of solver's."""
