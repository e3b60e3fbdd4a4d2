"""The runners behind `edgeft local` (loopback), `edgeft compare` (Mininet, root) and the
attached three-terminal mode, their calibration and live progress, and the loopback
harness the benchmarks use."""
