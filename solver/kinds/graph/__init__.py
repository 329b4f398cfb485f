"""graph: backpropagation through a computation the instructor writes (the `program`), node by node."""
