"""The dense family: batchnorm, mlp and mlp_jacobian."""
