"""A task score for the telemetry domain that a reader understands: how often the model completes the
next field of a held-out log line exactly (issue 30, item 7).

The validation loss says that a fine-tuned model fits the domain better; it does not say what it can do.
This score does: for every field of a held-out telemetry line (`gw0`, `edge-09`, `temp=21.3C`,
`batt=55%`, `rssi=-63dBm`, `status=OK`), the model is given the line up to that field and decodes
greedily; the field counts as an exact match when the model writes the field and then a separator.

Held-out lines come from the telemetry generator under a seed no run uses (`HELD_OUT_SEED`), and any
line that also occurs in a run's training corpus is dropped, so the model has never seen one of them.

Greedy decoding of a field is scored by teacher forcing: one forward pass over the whole line gives,
at every position, the token the model would write next given the true text before it. Greedy
decoding from the prompt reproduces the field's own tokens exactly when each of those argmax tokens
equals the true token, so one pass scores every field of a line at once instead of one `generate`
call per field (`greedy_field_match` is the same rule by real decoding; the unit tests check that
both agree). The rule is in `field_matches`, a pure function of token ids and character offsets.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from edgeft import corpora
from edgeft.datasets import ByteTokenizer

log = logging.getLogger(__name__)

# No run uses it: run seeds are small integers, and the training corpus is telemetry(lines, seed=run seed).
HELD_OUT_SEED = 1_000_003
SEPARATORS = (" ", "\n")
# gw0 / edge-09: a letter key and a number; temp=21.3C: a key, '=' and a value
_FIELD = re.compile(r"(?P<key>[a-z]+=|[a-z]+-?)(?P<value>\S+)")


@dataclass(frozen=True)
class HeldOutLine:
    """A held-out telemetry line and the lines of its document just before it (the log so far)."""

    context: str  # '' or whole lines, each ending in '\n'
    line: str  # without its trailing newline


@dataclass(frozen=True)
class FieldSpan:
    """Where one field of a line lies: characters [start, end) of the line, its value from `value_start`;
    `name` as in the table."""

    name: str
    start: int
    value_start: int
    end: int


@dataclass(frozen=True)
class FieldResult:
    """One field of one held-out line, scored: `field` when the prompt ends before the field (the model
    writes key and value), `value` when it ends after the key (`status=`: the model writes `OK`)."""

    name: str
    field: bool
    value: bool


def _lines(docs: Iterable[corpora.Document]) -> set[str]:
    return {line for _, text in docs for line in text.splitlines() if line}


def held_out_lines(
    count: int,
    training_docs: Iterable[corpora.Document],
    seed: int = HELD_OUT_SEED,
    context_lines: int = 0,
    candidates: list[corpora.Document] | None = None,
) -> list[HeldOutLine]:
    """`count` telemetry lines that no training document holds, dealt round-robin over the generator's
    documents (every site and sensor kind in turn), each with the `context_lines` lines of its
    document before it. `candidates` replaces the generated documents (for tests).
    ValueError if there are not enough lines."""
    if count < 1 or context_lines < 0:
        raise ValueError(f"count must be >= 1 and context_lines >= 0 (got {count}, {context_lines})")
    seen = _lines(training_docs)
    docs = candidates if candidates is not None else corpora.telemetry(lines=4 * count + 400, seed=seed)
    per_doc = [_eligible(text.splitlines(), seen, context_lines) for _, text in docs]
    picked: list[HeldOutLine] = []
    for depth in range(max((len(rows) for rows in per_doc), default=0)):
        for rows in per_doc:
            if depth < len(rows) and len(picked) < count:
                picked.append(rows[depth])
    if len(picked) < count:
        raise ValueError(f"only {len(picked)} held-out lines available, {count} asked for: lower count")
    return picked


def _eligible(lines: list[str], seen: set[str], context_lines: int) -> list[HeldOutLine]:
    """The lines of one document that may be scored: not in training, with a full context before them."""
    out = []
    for index in range(context_lines, len(lines)):
        if lines[index] and lines[index] not in seen:
            context = "".join(line + "\n" for line in lines[index - context_lines : index])
            out.append(HeldOutLine(context, lines[index]))
    return out


def field_spans(line: str) -> list[FieldSpan]:
    """Every field after the timestamp, as spans of `line`: named by its key (`gw`, `edge`, `temp`,
    ..., `status`; the four sensor readings are all named `reading`)."""
    spans = []
    position = line.find(" ")
    for found in _FIELD.finditer(line, position + 1 if position >= 0 else len(line)):
        key = found.group("key").rstrip("=-")
        name = "reading" if key in corpora.TELEMETRY_KINDS else key
        spans.append(FieldSpan(name, found.start(), found.start("value"), found.end()))
    return spans


def token_ends(tokenizer, text: str) -> tuple[list[int], list[int]]:
    """The token ids of `text` and, for each token, the character offset where it ends: token i covers
    [ends[i-1], ends[i]) (a byte-level token's leading space belongs to it). ValueError if the tokenizer
    does not round-trip `text`."""
    if isinstance(tokenizer, ByteTokenizer):
        ids, ends = [], []
        for index, char in enumerate(text):
            encoded = char.encode("utf-8")
            ids.extend(encoded)
            ends.extend([index] * (len(encoded) - 1) + [index + 1])  # a character ends on its last byte
        return ids, ends
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    ends = [int(end) for _, end in encoded["offset_mapping"]]
    for index in range(1, len(ends)):  # a merged multi-byte character may report a smaller end: keep them monotone
        ends[index] = max(ends[index], ends[index - 1])
    if not ends or ends[-1] != len(text):
        raise ValueError(f"the tokenizer's offsets do not cover the text ({ends[-1:]} vs {len(text)} characters)")
    return ids, ends


def separator_ids(tokenizer) -> frozenset[int]:
    """The tokens that begin with a separator (space or newline), and the end-of-text token: after one of
    them a greedy decoder has finished the field."""
    if isinstance(tokenizer, ByteTokenizer):
        return frozenset(ord(char) for char in SEPARATORS)
    vocabulary = len(tokenizer)
    texts = tokenizer.batch_decode([[index] for index in range(vocabulary)], clean_up_tokenization_spaces=False)
    found = {index for index, text in enumerate(texts) if text[:1] in SEPARATORS}
    if tokenizer.eos_token_id is not None:
        found.add(int(tokenizer.eos_token_id))
    return frozenset(found)


def field_matches(
    predicted: Sequence[int],
    actual: Sequence[int],
    ends: Sequence[int],
    start: int,
    end: int,
    separators: frozenset[int],
) -> bool:
    """Whether greedy decoding, prompted with the text before `start`, writes characters [start, end) and
    then a separator.

    `actual[i]` is token i of the text, ending at character `ends[i]`; `predicted[i]` is the model's argmax
    for token i given `actual[:i]` (teacher forcing; `predicted[0]` is unused). The prompt ends at the last
    token boundary at or before `start`, so a token that straddles `start` is written by the model too.
    Every token from there through the one that reaches `end` must be the text's own, and if that token
    ends exactly at `end`, the next predicted token must begin with a separator (or end the text); a
    token reaching past `end` carries the separator itself. The text must go on after `end`."""
    first = next((index for index, stop in enumerate(ends) if stop > start), None)
    last = next((index for index, stop in enumerate(ends) if stop >= end), None)
    if first is None or last is None or first == 0:
        raise ValueError(f"characters [{start}, {end}) need a prompt before them and text after them")
    if any(predicted[index] != actual[index] for index in range(first, last + 1)):
        return False
    if ends[last] > end:
        return True
    if last + 1 >= len(predicted):
        raise ValueError(f"the text ends at character {end}: append the separator that follows the field")
    return predicted[last + 1] in separators


def encode_line(tokenizer, held_out: HeldOutLine) -> tuple[list[int], list[int], list[FieldSpan]]:
    """Token ids and ends of the context, the line and its newline, and the line's fields as spans of that text."""
    ids, ends = token_ends(tokenizer, held_out.context + held_out.line + "\n")
    shift = len(held_out.context)
    spans = [
        FieldSpan(span.name, span.start + shift, span.value_start + shift, span.end + shift)
        for span in field_spans(held_out.line)
    ]
    return ids, ends, spans


@torch.no_grad()
def score_lines(model, tokenizer, lines: Sequence[HeldOutLine], batch_size: int = 16) -> list[list[FieldResult]]:
    """Every field of every line, scored by one teacher-forced forward pass per line (batched, padded on
    the right: a causal model's logits at a position do not depend on what follows it)."""
    separators = separator_ids(tokenizer)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[list[FieldResult]] = []
    try:
        for offset in range(0, len(lines), batch_size):
            encoded = [encode_line(tokenizer, line) for line in lines[offset : offset + batch_size]]
            for (ids, ends, spans), predicted in zip(
                encoded, _argmax_batch(model, [ids for ids, _, _ in encoded], device)
            ):
                results.append(
                    [
                        FieldResult(
                            span.name,
                            field_matches(predicted, ids, ends, span.start, span.end, separators),
                            field_matches(predicted, ids, ends, span.value_start, span.end, separators),
                        )
                        for span in spans
                    ]
                )
    finally:
        model.train(was_training)
    return results


def _argmax_batch(model, batch: list[list[int]], device: torch.device) -> list[list[int]]:
    """For each sequence, the argmax token at each position given the true tokens before it (index 0: -1)."""
    width = max(len(ids) for ids in batch)
    input_ids = torch.zeros(len(batch), width, dtype=torch.long)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[row, : len(ids)] = 1
    logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
    best = logits.argmax(dim=-1).cpu()
    return [[-1] + best[row, : len(ids) - 1].tolist() for row, ids in enumerate(batch)]


@dataclass(frozen=True)
class Score:
    """Exact-match shares over a held-out set: all fields, and per field name."""

    lines: int
    fields: int
    field_match: float  # prompt ends before the field: the model writes key and value
    value_match: float  # prompt ends after the key
    per_field: dict[str, tuple[float, float]]  # name -> (field_match, value_match)


def summarize(results: Sequence[Sequence[FieldResult]]) -> Score:
    """The shares of exact matches, overall (every field of every line counts once) and per field name."""
    flat = [result for line in results for result in line]
    if not flat:
        raise ValueError("no field was scored")
    per_field = {}
    for name in dict.fromkeys(result.name for result in flat):
        named = [result for result in flat if result.name == name]
        per_field[name] = (_share(result.field for result in named), _share(result.value for result in named))
    return Score(
        len(results),
        len(flat),
        _share(result.field for result in flat),
        _share(result.value for result in flat),
        per_field,
    )


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values)


@torch.no_grad()
def greedy_completion(model, tokenizer, prompt_ids: Sequence[int], max_new_tokens: int) -> list[int]:
    """The tokens greedy decoding writes after `prompt_ids`, up to an end-of-text token (the reference the
    teacher-forced rule stands for, and what a user sees)."""
    device = next(model.parameters()).device
    ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)
    eos = getattr(tokenizer, "eos_token_id", None)
    written: list[int] = []
    past = None
    for _ in range(max_new_tokens):
        output = model(input_ids=ids, past_key_values=past, use_cache=True)
        past = output.past_key_values
        token = int(output.logits[0, -1].argmax())
        written.append(token)
        if token == eos:
            break
        ids = torch.tensor([[token]], dtype=torch.long, device=device)
    return written


def greedy_field_match(
    model, tokenizer, ids: Sequence[int], ends: Sequence[int], start: int, end: int, separators: frozenset[int]
) -> bool:
    """`field_matches` by real greedy decoding: prompt with the tokens before the field, decode as many
    tokens as the field has plus one, compare. Slow (one decode per field): the reference the
    teacher-forced score is checked against."""
    first = next(index for index, stop in enumerate(ends) if stop > start)
    last = next(index for index, stop in enumerate(ends) if stop >= end)
    written = greedy_completion(model, tokenizer, ids[:first], last - first + 2)
    if written[: last - first + 1] != list(ids[first : last + 1]):
        return False
    return ends[last] > end or (len(written) > last - first + 1 and written[last - first + 1] in separators)
