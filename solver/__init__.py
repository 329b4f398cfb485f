"""solver: worked solutions and answer checking for deep-learning homework."""
__version__ = "0.1.0"
