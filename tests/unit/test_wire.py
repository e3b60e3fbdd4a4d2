import pytest
import torch

from edgeft.wire import (
    WireError,
    bytes_to_tensors,
    check_tensors,
    decode_meta,
    read_metadata,
    sha256_hex,
    state_digest,
    tensors_to_bytes,
)

REF = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}


def test_roundtrip_is_exact_and_deterministic():
    t = {"b": torch.randn(4), "a": torch.randn(2, 3)}
    data = tensors_to_bytes(t, metadata={"k": "v"})
    back = bytes_to_tensors(data)
    assert all(torch.equal(back[k], t[k]) for k in t)
    assert tensors_to_bytes(dict(reversed(list(t.items())))) == tensors_to_bytes(t)
    assert read_metadata(data) == {"k": "v"}
    assert state_digest(back) == state_digest(t) and len(sha256_hex(data)) == 64


def test_truncated_and_garbage_bodies_are_rejected():
    data = tensors_to_bytes(REF)
    with pytest.raises(WireError, match="safetensors"):
        bytes_to_tensors(data[: len(data) // 2])
    with pytest.raises(WireError, match="safetensors"):
        bytes_to_tensors(b"not tensors at all")


@pytest.mark.parametrize(
    "bad,msg",
    [
        ({"a": torch.zeros(3, 2), "b": torch.zeros(4)}, "shape"),
        ({"a": torch.zeros(2, 3, dtype=torch.float64), "b": torch.zeros(4)}, "dtype"),
        ({"a": torch.full((2, 3), float("nan")), "b": torch.zeros(4)}, "NaN"),
        ({"a": torch.zeros(2, 3), "b": torch.tensor([0, float("inf"), 0, 0])}, "NaN or Inf"),
        ({"a": torch.zeros(2, 3)}, "missing"),
        ({**REF, "c": torch.zeros(1)}, "unexpected"),
    ],
)
def test_check_tensors_names_the_problem(bad, msg):
    with pytest.raises(WireError, match=msg):
        check_tensors(bad, REF)


def test_digest_changes_with_a_single_value():
    other = {k: v.clone() for k, v in REF.items()}
    other["b"][0] = 1e-30
    assert state_digest(other) != state_digest(REF)


def test_meta_header_validation():
    assert decode_meta('{"a": 1}') == {"a": 1}
    for raw, msg in [(None, "missing"), ("{", "not JSON"), ("[1]", "object"), ('{"loss": NaN}', "not finite")]:
        with pytest.raises(WireError, match=msg):
            decode_meta(raw)
