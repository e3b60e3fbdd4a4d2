"""The experiments, by purpose: runners/ (behind `edgeft local` and `edgeft compare`), reports/, measure/,
scenarios/; the scripts users run sit at the top (bench_*.py, fault_matrix.py, soak.py, demo_local.py, generate.py,
compare.py)."""
