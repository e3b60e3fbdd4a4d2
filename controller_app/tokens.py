"""The controller's write token, kept in a file only its owner can read.

The controller is closed by default (issue 25): its write routes (POST /v1/reset,
PUT /v1/links/capacity, PUT /v1/measure) change what the scores see, so they always
need a bearer token. When none is given (--token / EDGEFT_TOKEN, both discouraged: a
command line and an environment are visible to others), the token file is read, and
if it holds no token yet one is generated and written there. The file is created
with mode 0600 by os.open itself, never chmod-ed afterwards (a window in which
another user could open it), and refused if it is a link. Whoever needs to write
(the topology script, `edgeft compare --attach`) reads the same file: the
topology's description names its path under controller.token_file, never the token.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger("edgeft.controller")
TOKEN_BYTES = 32


def default_path(rest_port: int, cwd: Path | None = None) -> Path:
    """Where the controller keeps its token unless told otherwise: .edgeft/controller-<port>.token
    in the working directory."""
    return (cwd or Path.cwd()) / ".edgeft" / f"controller-{rest_port}.token"


def read_token(path: Path) -> str:
    """The token in `path` ('' if the file is missing or empty). Warns when others may read it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return ""
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        if stat.S_IMODE(os.fstat(f.fileno()).st_mode) & 0o077:
            log.warning("token file %s can be read by others: chmod 600 it", path)
        return f.read(4096).strip()


def write_new_token(path: Path) -> str:
    """Generate a token and create `path` holding it, mode 0600 from the start (its folder
    0700 if it has to be made). Raises FileExistsError if the file appeared meanwhile."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def resolve_token(given: str, path: Path) -> tuple[str, str]:
    """(token, where it came from): the given one, else the file's, else a new one written
    to the file. Raises OSError (naming the path) when the file cannot be read or made."""
    if given:
        return given, "given"
    token = read_token(path)
    if token:
        return token, f"read from {path}"
    try:
        return write_new_token(path), f"generated into {path}"
    except FileExistsError:  # another process made it between the read and the create
        token = read_token(path)
        if not token:
            raise OSError(f"token file {path} exists but is empty: remove it or write a token into it") from None
        return token, f"read from {path}"
