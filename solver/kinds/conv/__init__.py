"""The convolution family: conv2d, pool2d, conv_transpose2d and conv2d_backward."""
