"""The telemetry task score (edgeft/task_metric.py, issue 30 item 7): fields are found where a reader
sees them, the exact-match rule accepts exactly what greedy decoding would write, held-out lines are
never training lines, and the teacher-forced score agrees with real greedy decoding on a small model."""

from __future__ import annotations

import pytest
import torch

from edgeft import corpora
from edgeft.datasets import ByteTokenizer, train_bpe
from edgeft.modeling import BuiltinArch, builtin_config
from edgeft.task_metric import (
    FieldResult,
    encode_line,
    field_matches,
    field_spans,
    greedy_completion,
    greedy_field_match,
    held_out_lines,
    score_lines,
    separator_ids,
    summarize,
    token_ends,
)

LINE = "2026-01-15T00:04:04Z gw0 edge-09 temp=21.3C batt=55% rssi=-63dBm status=OK"


def test_fields_are_the_ones_a_reader_sees():
    spans = field_spans(LINE)
    assert [span.name for span in spans] == ["gw", "edge", "reading", "batt", "rssi", "status"]
    assert [LINE[span.start : span.end] for span in spans] == [
        "gw0",
        "edge-09",
        "temp=21.3C",
        "batt=55%",
        "rssi=-63dBm",
        "status=OK",
    ]
    assert [LINE[span.value_start : span.end] for span in spans] == ["0", "09", "21.3C", "55%", "-63dBm", "OK"]


# Hand-made tokens of "x b=OK\n": 'x' | ' b' | '=' | 'OK' | '\n', ending at characters 1, 3, 4, 6, 7.
ACTUAL = [10, 11, 12, 13, 14]
ENDS = [1, 3, 4, 6, 7]
NEWLINE_FIRST = frozenset({14, 15})  # token ids that begin with a separator
FIELD = (2, 6)  # 'b=OK': starts inside the token ' b', so the prompt is 'x' and the model writes ' b=OK'


def test_exact_match_needs_every_token_of_the_field_and_then_a_separator():
    assert field_matches([-1, 11, 12, 13, 14], ACTUAL, ENDS, *FIELD, NEWLINE_FIRST)
    assert field_matches([-1, 11, 12, 13, 15], ACTUAL, ENDS, *FIELD, NEWLINE_FIRST)  # another separator is fine
    assert not field_matches([-1, 11, 12, 99, 14], ACTUAL, ENDS, *FIELD, NEWLINE_FIRST)  # wrong value
    assert not field_matches([-1, 99, 12, 13, 14], ACTUAL, ENDS, *FIELD, NEWLINE_FIRST)  # wrong key
    assert not field_matches([-1, 11, 12, 13, 99], ACTUAL, ENDS, *FIELD, NEWLINE_FIRST)  # 'OKAY' is not 'OK'
    # the prompt's own tokens are given, not predicted: a wrong guess there does not count
    assert field_matches([-1, 11, 12, 13, 14], ACTUAL, ENDS, 4, 6, NEWLINE_FIRST)
    assert field_matches([-1, 99, 99, 13, 14], ACTUAL, ENDS, 4, 6, NEWLINE_FIRST)


def test_a_token_that_carries_the_separator_needs_no_check_after_it():
    merged_ends = [1, 3, 4, 7]  # 'OK\n' is one token
    assert field_matches([-1, 11, 12, 13], [10, 11, 12, 13], merged_ends, *FIELD, NEWLINE_FIRST)
    assert not field_matches([-1, 11, 12, 99], [10, 11, 12, 13], merged_ends, *FIELD, NEWLINE_FIRST)


def test_a_field_without_prompt_or_following_text_is_refused():
    with pytest.raises(ValueError, match="prompt"):
        field_matches([-1, 11], [10, 11], [1, 3], 0, 1, NEWLINE_FIRST)
    with pytest.raises(ValueError, match="separator"):
        field_matches([-1, 11, 12, 13], ACTUAL[:4], ENDS[:4], *FIELD, NEWLINE_FIRST)


def _doc(group: str, *lines: str) -> corpora.Document:
    return group, "".join(line + "\n" for line in lines)


def test_held_out_lines_skip_training_lines_keep_their_context_and_take_every_document_in_turn():
    candidates = [_doc("a", "a1", "a2", "a3", "a4"), _doc("b", "b1", "b2", "b3")]
    training = [_doc("t", "a3", "zz")]
    picked = held_out_lines(4, training, context_lines=1, candidates=candidates)
    assert [(held.context, held.line) for held in picked] == [
        ("a1\n", "a2"),
        ("b1\n", "b2"),
        ("a3\n", "a4"),  # a3 was trained on: it is not scored, but it is the log before a4
        ("b2\n", "b3"),
    ]
    without_context = held_out_lines(5, training, context_lines=0, candidates=candidates)
    assert [held.line for held in without_context] == ["a1", "b1", "a2", "b2", "a4"]
    assert all(held.context == "" for held in without_context)
    with pytest.raises(ValueError, match="only 6 held-out lines"):
        held_out_lines(7, training, context_lines=0, candidates=candidates)


def test_the_default_held_out_set_is_fixed_and_never_in_a_run_corpus():
    training = [doc for seed in range(4) for doc in corpora.telemetry(6000, seed=seed)]
    trained = {line for _, text in training for line in text.splitlines()}
    picked = held_out_lines(200, training, context_lines=0)
    assert len(picked) == 200 and len({held.line for held in picked}) == 200
    assert not trained & {held.line for held in picked}
    assert picked == held_out_lines(200, [], context_lines=0)  # the exclusion removed nothing by chance
    kinds = {held.line.split()[3].split("=")[0] for held in picked}
    assert kinds == set(corpora.TELEMETRY_KINDS)  # dealt over every document, not the first few


def test_token_ends_cover_the_text_for_bytes_and_bpe(tmp_path):
    ids, ends = token_ends(ByteTokenizer(), "a°b")
    assert ids == list("a°b".encode()) and ends == [1, 1, 2, 3]
    tokenizer = train_bpe(corpora.telemetry(300, seed=5), 400, tmp_path)
    text = LINE + "\n"
    ids, ends = token_ends(tokenizer, text)
    pieces = [text[(ends[index - 1] if index else 0) : ends[index]] for index in range(len(ids))]
    assert "".join(pieces) == text
    assert pieces == [tokenizer.decode([token]) for token in ids]
    assert separator_ids(ByteTokenizer()) == {ord(" "), ord("\n")}
    separators = separator_ids(tokenizer)
    assert all(tokenizer.decode([token])[:1] in " \n" for token in separators if token != tokenizer.eos_token_id)


def test_summary_counts_every_field_once_and_per_name():
    results = [
        [FieldResult("gw", True, True), FieldResult("status", False, True)],
        [FieldResult("gw", False, False), FieldResult("status", False, True)],
    ]
    score = summarize(results)
    assert (score.lines, score.fields, score.field_match, score.value_match) == (2, 4, 0.25, 0.75)
    assert score.per_field == {"gw": (0.5, 0.5), "status": (0.0, 1.0)}


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: on a shared, loaded host two threads make these small steps many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def taught_model(one_thread):
    """A tiny byte-level Llama taught telemetry for 100 steps (about 2 CPU s): enough that it completes
    some fields (status, edge) exactly, so agreement with greedy decoding is tested on matches and misses."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    arch = BuiltinArch(layers=1, hidden=64, heads=2, intermediate=128, max_positions=256)
    model = LlamaForCausalLM(builtin_config(arch, 256))
    text = "".join(body for _, body in corpora.telemetry(400, seed=3))
    data = torch.tensor(list(text.encode()))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(100):
        starts = torch.randint(0, len(data) - 97, (8,), generator=generator)
        batch = torch.stack([data[start : start + 96] for start in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_teacher_forced_score_agrees_with_greedy_decoding(taught_model):
    tokenizer = ByteTokenizer()
    lines = held_out_lines(4, [], context_lines=1)
    results = score_lines(taught_model, tokenizer, lines, batch_size=4)
    separators = separator_ids(tokenizer)
    agreed, matched = 0, 0
    for held, scored in zip(lines, results):
        ids, ends, spans = encode_line(tokenizer, held)
        for span, result in zip(spans, scored):
            first = next(index for index, stop in enumerate(ends) if stop > span.start)
            for start, flag in ((span.start, result.field), (span.value_start, result.value)):
                assert flag == greedy_field_match(taught_model, tokenizer, ids, ends, start, span.end, separators)
                agreed += 1
                matched += flag
            assert result.name == span.name
            assert len(greedy_completion(taught_model, tokenizer, ids[:first], 1)) == 1
    assert agreed == 4 * 6 * 2
    assert 0 < matched < agreed, "the model should complete some fields and miss others"


def test_the_bench_refuses_a_folder_that_is_not_a_run_in_one_line(tmp_path, capsys):
    from experiments.bench_task_metric import main

    assert main([str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "orchestrator_config.json" in error and "finished run folder" in error


def test_the_built_in_model_is_scored_in_seconds_and_agrees_with_greedy_decoding(tmp_path, one_thread):
    """The built-in Llama with its own BPE tokenizer (trained here on the synthetic corpus, no pre-training
    steps): the offsets of merged tokens and the separator tokens come from a real HF tokenizer."""
    from edgeft.pretrain import BaseRecipe, prepare_base

    model, tokenizer, _ = prepare_base(BaseRecipe(corpus="synthetic", steps=0, vocab_size=300), tmp_path)
    lines = held_out_lines(8, [])
    results = score_lines(model, tokenizer, lines, batch_size=4)
    score = summarize(results)
    assert (score.lines, score.fields) == (8, 48) and set(score.per_field) == {
        "gw",
        "edge",
        "reading",
        "batt",
        "rssi",
        "status",
    }
    separators = separator_ids(tokenizer)
    ids, ends, spans = encode_line(tokenizer, lines[0])
    for span, result in zip(spans, results[0]):
        assert result.field == greedy_field_match(model, tokenizer, ids, ends, span.start, span.end, separators)
        assert result.value == greedy_field_match(model, tokenizer, ids, ends, span.value_start, span.end, separators)
