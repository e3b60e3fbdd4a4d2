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


def _containers(fig, kind: str) -> list:
    return [c for c in fig.axes[0].containers if type(c).__name__ == kind]


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_one_seed_draws_bars_without_error_bars_and_says_n_1():
    """No confidence interval from one seed (issue 30 item 5)."""
    from experiments.reports.report import draw_completion

    rows = [r for r in _rows() if r["nodes"] == 12 and r["setup"] == 2 and r["seed"] == 0]
    fig = draw_completion(rows)
    assert len(_containers(fig, "BarContainer")) == 2
    assert _containers(fig, "ErrorbarContainer") == []
    assert all(c.errorbar is None for c in _containers(fig, "BarContainer"))
    assert _texts(fig).count("n = 1") == 2
    assert "CI" not in fig.axes[0].get_ylabel()


def test_three_seeds_draw_the_ci_and_say_n_3():
    from experiments.reports.report import draw_completion
    from experiments.reports.stats import mean_ci95

    rows = [r for r in _rows() if r["nodes"] == 12 and r["setup"] == 2]
    fig = draw_completion(rows)
    bars = _containers(fig, "ErrorbarContainer")
    assert len(bars) == 2
    half = mean_ci95([94.0, 95.0, 96.0])[1]  # AR, setup 2, 12 nodes
    assert any(t.startswith("n = 3") and f"± {half:.1f}" in t for t in _texts(fig))
    assert "95 % CI" in fig.axes[0].get_ylabel()


def test_several_node_counts_put_n_in_the_legend_and_draw_no_ci_from_one_seed():
    from experiments.reports.report import draw_completion

    one = draw_completion([r for r in _rows() if r["seed"] == 0 and r["setup"] == 1])
    assert _containers(one, "ErrorbarContainer") == []
    assert [t.get_text() for t in one.axes[0].get_legend().get_texts()] == ["AR (n = 1)", "NE (n = 1)"]
    three = draw_completion([r for r in _rows() if r["setup"] == 1])
    assert len(_containers(three, "ErrorbarContainer")) == 4  # two policies x two node counts
    assert "AR (n = 3)" in [t.get_text() for t in three.axes[0].get_legend().get_texts()]
