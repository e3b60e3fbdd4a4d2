import numpy as np
import pytest

from topologies.profiles import SETUPS, draw_profiles


def test_profiles_are_seeded_bounded_and_near_the_setup_means():
    a, b = draw_profiles(400, 2, seed=1), draw_profiles(400, 2, seed=1)
    assert a == b and a != draw_profiles(400, 2, seed=2)
    bw, delay, _ = SETUPS[2]
    bws = np.array([p.bandwidth_mbps for p in a])
    assert bws.min() >= 0.1 * bw and bws.max() <= 4 * bw
    assert abs(bws.mean() - bw) / bw < 0.2
    assert abs(np.mean([p.delay_ms for p in a]) - delay) / delay < 0.2
    assert min(p.compute_power for p in a) >= 3.0
    assert abs(np.mean([p.compute_power for p in a]) - 30) < 3


def test_unknown_setup_is_refused():
    with pytest.raises(ValueError, match="setup must be one of"):
        draw_profiles(4, 9, 0)


def test_delay_line_choice_is_validated_and_falls_back_to_python(monkeypatch, tmp_path):
    from topologies import shaping

    with pytest.raises(ValueError, match="EDGEFT_DELAY_LINE='rust'"):
        shaping.delay_line_command("rust")
    monkeypatch.setattr(shaping, "C_DELAY_LINE", tmp_path / "edgeft-delay-line")  # not built here
    with pytest.raises(ValueError, match="not built: run `sudo bash scripts/install.sh`"):
        shaping.delay_line_command("c")
    assert shaping.delay_line_command("auto")[-2:] == ["-m", "topologies.delay_line"]
    (tmp_path / "edgeft-delay-line").write_text("")
    assert shaping.delay_line_command("auto") == [str(tmp_path / "edgeft-delay-line")]
    assert shaping.delay_line_command("python")[-1] == "topologies.delay_line"


def test_held_delay_pairs_each_echo_request_with_its_reply():
    from experiments.measure.link_load import pair_echoes

    text = "\n".join(
        [
            "1700000000.000100000 IP 10.1.0.1 > 10.1.0.2: ICMP echo request, id 7, seq 1, length 64",
            "1700000000.014500000 IP 10.1.0.2 > 10.1.0.1: ICMP echo reply, id 7, seq 1, length 64",
            "1700000000.050100000 IP 10.1.0.1 > 10.1.0.2: ICMP echo request, id 7, seq 2, length 64",  # lost: no reply
            "1700000000.100100000 IP 10.1.0.1 > 10.1.0.2: ICMP echo request, id 7, seq 3, length 64",
            "1700000000.100200000 IP 10.1.0.2 > 10.1.0.1: ICMP 10.1.0.2 udp port 5201 unreachable, length 36",
            "1700000000.115100000 IP 10.1.0.2 > 10.1.0.1: ICMP echo reply, id 7, seq 3, length 64",
        ]
    )
    assert pair_echoes(text) == pytest.approx([14.4, 15.0], abs=1e-3)
