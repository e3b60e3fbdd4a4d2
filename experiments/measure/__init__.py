"""What the benchmarks measure with: link load and delay-line figures, peak memory."""
