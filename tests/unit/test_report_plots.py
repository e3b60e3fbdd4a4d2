"""The completion-time figure keeps setups apart and draws every run it is given."""

from experiments.reports.report import completion_series, plot_completion


def _rows():
    return [
        dict(policy=p, setup=s, nodes=n, seed=seed, completion_time_s=t + s + n + seed)
        for p, t in (("ne", 60.0), ("ar", 80.0))
        for s in (1, 2)
        for n in (12, 40)
        for seed in (0, 1, 2)
    ]


def test_one_series_per_policy_and_setup_with_every_seed():
    series = completion_series(_rows())
    assert set(series) == {("ne", 1), ("ne", 2), ("ar", 1), ("ar", 2)}
    assert series[("ar", 2)] == {12: [94.0, 95.0, 96.0], 40: [122.0, 123.0, 124.0]}


def test_the_figure_is_written_for_one_and_for_several_node_counts(tmp_path):
    for rows in (_rows(), [r for r in _rows() if r["nodes"] == 12 and r["setup"] == 2]):
        path = plot_completion(tmp_path, rows)
        assert path.stat().st_size > 10_000
        path.unlink()
