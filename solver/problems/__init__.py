"""Problem files: loading and validating a set (load), and redrawing it into variants (vary).
Loading validates each given with its kind and reads tolerances, so this layer sits above
kinds and answers, below rendering and the commands."""
