"""Per-node credentials: who may enrol as which node.

Why: a node token derived from the run token (HMAC of the run token and the node id) lets every
holder of the run token, that is every node, compute every other node's token and take its place.
Here each node gets a secret of its own, drawn at random by `edgeft provision` (as Flower's
SuperNode keys or NVIDIA FLARE's startup kits are made per site, before the run). The node keeps
its secret in a 0600 file; the orchestrator keeps only the SHA-256 of each secret (its list,
`credentials.json`), so the list itself enrols nobody. Secrets and hashes are compared in
constant time.

Files holding a secret are created with their final mode (os.open with 0o600), never made
private afterwards: a file that is world-readable for a moment has leaked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

FORMAT = "edgeft-credentials/1"
LIST_NAME = "credentials.json"
NODE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")  # the edge client's own rule (edge_client/config.py)


def new_secret() -> str:
    """A fresh secret; hex, so that it never starts with "-" (it would read as a CLI flag)."""
    return secrets.token_hex(24)


def digest(secret: str) -> str:
    """What the orchestrator stores of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read, created with that mode (an old file is
    replaced: os.open keeps the mode of a file that exists)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def read_secret(path: str | Path, what: str = "token file") -> str:
    """The secret in a token file (surrounding white space dropped). ValueError (one line, the
    CLI exits 2) when it cannot be read or is empty."""
    try:
        text = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{what} '{path}' cannot be read ({type(exc).__name__}): give the file `edgeft provision` "
            "or the orchestrator wrote"
        ) from None
    if not text or len(text) > 256 or any(c.isspace() for c in text):
        raise ValueError(f"{what} '{path}' does not hold one token (1-256 characters, no spaces)")
    return text


def default_ids(count: int) -> list[str]:
    """node-01, node-02, ...: the ids the runners give their nodes."""
    return [f"node-{i:02d}" for i in range(1, count + 1)]


def provision(out_dir: str | Path, ids: list[str], ips: dict[str, str] | None = None) -> dict[str, Path]:
    """Write one secret per node (`<id>.token`, 0600) and the orchestrator's list
    (`credentials.json`, 0600, hashes only; with `ips`, the address each node's network
    figures are looked up by, for nodes whose connection comes through NAT) into `out_dir`.
    Returns each node's token file."""
    bad = [i for i in ids if not NODE_ID.match(i)]
    if bad or not ids or len(set(ids)) != len(ids):
        raise ValueError(
            f"node ids {bad or ids!r}: give distinct ids of 1-64 letters, digits, '.', '_' or '-' (e.g. node-01)"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    files, hashes = {}, {}
    for node_id in ids:
        secret = new_secret()
        files[node_id] = out / f"{node_id}.token"
        write_private(files[node_id], secret + "\n")
        hashes[node_id] = {"sha256": digest(secret), **({"ip": ips[node_id]} if ips and node_id in ips else {})}
    write_private(out / LIST_NAME, json.dumps({"format": FORMAT, "nodes": hashes}, indent=2) + "\n")
    return files


@dataclass(frozen=True)
class Credentials:
    """The orchestrator's list: node id -> SHA-256 of its secret (and, optionally, the IP the
    node's network figures are looked up by, from its provisioning record)."""

    hashes: dict[str, str]
    ips: dict[str, str]

    @classmethod
    def load(cls, path: str | Path) -> "Credentials":
        """Read a credentials.json; ValueError with one line naming the file when it is unusable."""
        try:
            data = json.loads(Path(path).read_text())
            nodes = data["nodes"] if data.get("format") == FORMAT else None
            hashes = {str(k): str(v["sha256"]) for k, v in nodes.items()}
            ips = {str(k): str(v["ip"]) for k, v in nodes.items() if v.get("ip")}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"enrolment.credentials_file '{path}' is not a list written by `edgeft provision` "
                f"({type(exc).__name__}): run `edgeft provision --nodes N --out DIR` and give DIR/{LIST_NAME}"
            ) from None
        if not hashes or not all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes.values()):
            raise ValueError(f"enrolment.credentials_file '{path}' holds no node, or a malformed hash")
        return cls(hashes, ips)

    def verify(self, node_id: str, secret: str) -> bool:
        """Whether `secret` is `node_id`'s (constant time; an unknown id costs the same)."""
        want = self.hashes.get(node_id, "0" * 64)
        return hmac.compare_digest(want, digest(secret)) and node_id in self.hashes
