"""Tools built on keyshift: the demo (make demo) and the benchmark (make bench)."""
