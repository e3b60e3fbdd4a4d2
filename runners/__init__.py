"""Experiment runners: the code behind `edgeft local` (loopback), `edgeft compare`
(Mininet, root) and the attached three-terminal mode, their calibration, live
progress, reports and statistics, and the faults caused for real on loopback.
The scripts that use them to produce figures live in experiments/."""
