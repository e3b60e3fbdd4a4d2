import json

import numpy as np
import pytest

from edgeft import corpora
from edgeft.datasets import (
    ByteTokenizer,
    Sequences,
    chunk,
    partition_dirichlet,
    partition_iid,
    split_validation,
    train_bpe,
)


def _covers_once(parts, n):
    allidx = np.concatenate(parts)
    assert sorted(allidx.tolist()) == list(range(n))


@pytest.mark.parametrize("n,nodes", [(100, 12), (12, 12), (1000, 40)])
def test_iid_partition_covers_every_sample_once_and_is_balanced(n, nodes):
    parts = partition_iid(n, nodes, seed=0)
    _covers_once(parts, n)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_dirichlet_partition_covers_once_skews_and_feeds_every_node():
    groups = [f"g{i % 4}" for i in range(400)]
    parts = partition_dirichlet(groups, 10, alpha=0.1, seed=0)
    _covers_once(parts, 400)
    assert all(len(p) >= 1 for p in parts)
    # strong skew: some node holds mostly one group
    shares = [max(np.bincount([int(groups[i][1]) for i in p], minlength=4)) / len(p) for p in parts]
    assert max(shares) > 0.9


def test_partition_refuses_more_nodes_than_samples():
    with pytest.raises(ValueError, match="cannot feed"):
        partition_iid(3, 5, seed=0)


def test_chunk_and_validation_split_are_disjoint_and_fixed():
    seqs = chunk(corpora.synthetic(20_000, seed=1), ByteTokenizer(), 32)
    assert seqs.ids.shape[1] == 32 and len(seqs) > 100
    train, val = split_validation(seqs, 20, seed=0)
    train2, val2 = split_validation(seqs, 20, seed=0)
    assert len(val) == 20 and len(train) == len(seqs) - 20
    assert (val.ids == val2.ids).all()
    rows = {tuple(r) for r in train.ids.tolist()}
    assert not any(tuple(r) in rows for r in val.ids.tolist()) or len(rows) < len(train)


def test_telemetry_is_seeded_and_grouped():
    a, b = corpora.telemetry(300, seed=7), corpora.telemetry(300, seed=7)
    assert a == b and len({g for g, _ in a}) > 1
    assert "status=" in a[0][1]


def test_bpe_tokenizer_reloads_through_autotokenizer(tmp_path):
    from transformers import AutoTokenizer

    train_bpe(corpora.synthetic(5000), 300, tmp_path)
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    ids = tok("edge node sync", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "edge node sync"


def test_user_jsonl_and_text_files(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"text": "hello", "group": "a"}) + "\n" + json.dumps({"text": "bye"}) + "\n")
    assert corpora.from_file(p) == [("a", "hello"), ("default", "bye")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"txt": 1}\n')
    with pytest.raises(corpora.CorpusError, match="bad.jsonl:1"):
        corpora.from_file(bad)
    with pytest.raises(corpora.CorpusError, match="does not exist"):
        corpora.from_file(tmp_path / "missing.txt")


def test_a_jsonl_file_with_invalid_utf8_names_its_line(tmp_path):
    """UnicodeDecodeError escaped from_file before (rc 1 after enrolment, issue 26)."""
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "ok"}\n\n{"text": "caf\xe9"}\n')
    with pytest.raises(corpora.CorpusError, match=r"bad.jsonl:3: not UTF-8 .*save the dataset as UTF-8"):
        corpora.check_file(bad)
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(b'{"text": "a"}\r\n{"text": "b\u2028c"}\r\n')  # a JSON-escaped line separator stays inside
    assert corpora.from_file(crlf) == [("default", "a"), ("default", "b\u2028c")]


def test_sequences_subset():
    import torch

    s = Sequences(torch.arange(12).view(4, 3), ["a", "b", "c", "d"])
    sub = s.subset([3, 1])
    assert sub.groups == ["d", "b"] and sub.ids[0].tolist() == [9, 10, 11]
