"""The controller app's one settings object: what the wrapper hands over arrives whole,
single EDGEFT_* variables still work by hand, and a bad value names its variable."""

import pytest

from controller_app.config import ENV, ControllerSettings, from_env, to_env


def test_the_wrapper_hands_the_whole_object_over():
    cfg = ControllerSettings(rest_port=9090, probe_hz=5.0, probe_timeout_s=8.0, train_interval_s=0, token="t0k")
    assert from_env(to_env(cfg)) == cfg
    assert from_env({}) == ControllerSettings()  # the defaults


def test_single_variables_by_hand_and_their_errors():
    assert from_env({"EDGEFT_PROBE_HZ": "4", "EDGEFT_LOSS_WINDOW": "50"}) == ControllerSettings(
        probe_hz=4.0, loss_window=50
    )
    with pytest.raises(ValueError, match="EDGEFT_LOSS_WINDOW: .*greater than or equal to 1"):
        from_env({"EDGEFT_LOSS_WINDOW": "0"})
    with pytest.raises(ValueError, match="EDGEFT_POLL_S"):
        from_env({"EDGEFT_POLL_S": "fast"})
    with pytest.raises(ValueError, match=f"{ENV} is not JSON"):
        from_env({ENV: "{probe_hz: 2"})
    with pytest.raises(ValueError, match=f"{ENV}: probe_hzz"):
        from_env({ENV: '{"probe_hzz": 2}'})


def test_closed_by_default_settings_and_their_errors(tmp_path, monkeypatch):
    cfg = ControllerSettings(rest_port=9091)
    assert cfg.token == "" and cfg.ofp_listen_host == "127.0.0.1"  # no token: one is made; OpenFlow on loopback
    monkeypatch.chdir(tmp_path)
    assert cfg.token_path() == tmp_path / ".edgeft" / "controller-9091.token"
    assert ControllerSettings(token_file="/x/t").token_path().as_posix() == "/x/t"
    assert from_env({"EDGEFT_OFP_LISTEN_HOST": "0.0.0.0"}).ofp_listen_host == "0.0.0.0"
    with pytest.raises(ValueError, match="EDGEFT_OFP_LISTEN_HOST: .*must be an IP address"):
        from_env({"EDGEFT_OFP_LISTEN_HOST": "everywhere"})
    with pytest.raises(ValueError, match="EDGEFT_MEASURE_FROM: .*must be an IP address"):
        from_env({"EDGEFT_MEASURE_FROM": "server"})
    assert from_env({"EDGEFT_MEASURE_FROM": "", "EDGEFT_OWN_PORT": "8701"}).measure_from == ""
    with pytest.raises(ValueError, match="EDGEFT_NICE"):
        from_env({"EDGEFT_NICE": "-40"})
