"""The fault-matrix script's in-process rows: every bad input is refused cleanly, and a
replayed or late upload is never aggregated twice."""

from experiments.fault_matrix import BAD_CONFIGS, BAD_UPLOADS, bad_inputs, replay_row


def test_every_bad_input_gets_a_clean_refusal(tmp_path):
    tried, clean, failures = bad_inputs(tmp_path)
    assert tried == len(BAD_UPLOADS) + len(BAD_CONFIGS) and failures == [] and clean == tried


def test_replayed_and_late_uploads_are_aggregated_once(tmp_path):
    fault, _, outcome, lost = replay_row(tmp_path)
    assert outcome == "200 then [409] and 409; aggregated once: yes" and lost == 0
