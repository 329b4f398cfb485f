"""The dense family: batchnorm and normalization (on one statistics module), mlp and mlp_jacobian."""
