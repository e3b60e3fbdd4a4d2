"""HTTP to the orchestrator (requests): the node always dials out (NAT-friendly).

Connection errors, and answers cut off mid-body (the orchestrator died while
sending, e.g. SIGKILLed for a --resume), are retried with backoff for
`retry_for_s`; an HTTP error answer is not retried, it is raised with the
orchestrator's message.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Iterator

import requests

from edgeft.wire import (
    DIGEST_HEADER,
    META_HEADER,
    Ack,
    BaseInfo,
    EnrollRequest,
    EnrollResponse,
    Task,
    WireError,
    sha256_hex,
)
from edge_client.config import EdgeConfig

log = logging.getLogger(__name__)
TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class OrchestratorError(RuntimeError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"orchestrator answered {status}: {detail}")
        self.status = status


class OrchestratorClient:
    def __init__(self, cfg: EdgeConfig) -> None:
        self.cfg = cfg
        self.base = cfg.orchestrator.rstrip("/")
        self.session = requests.Session()
        # Per request, not session.verify: requests lets REQUESTS_CA_BUNDLE override the session's.
        self.verify: str | bool = cfg.ca_bundle or True
        self.node_token = ""

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.node_token}", "X-Node-Id": self.cfg.node_id}

    def _request(
        self, method: str, path: str, timeout: float | None = None, body: Callable[[], Any] | None = None, **kw: Any
    ) -> requests.Response:
        """`body`: makes the request body afresh for every attempt (a streamed body is used up by a try).
        Retries for `retry_for_s` from the first failure, not from the first try: a long transfer
        over a slow link that stalls after minutes is retried like one that fails at once."""
        deadline = time.monotonic() + self.cfg.retry_for_s
        failed_once = False
        delay = 0.2
        while True:
            try:
                if body is not None:
                    kw["data"] = body()
                resp = self.session.request(
                    method, self.base + path, timeout=timeout or self.cfg.request_timeout_s, verify=self.verify, **kw
                )
            except requests.exceptions.SSLError as exc:  # a certificate problem does not go away by retrying
                raise OrchestratorError(
                    0,
                    f"TLS handshake with {self.base} failed ({exc.__context__ or exc}); "
                    "give the orchestrator's certificate with --ca-bundle",
                ) from None
            except TRANSIENT as exc:
                if not failed_once:
                    failed_once, deadline = True, time.monotonic() + self.cfg.retry_for_s
                elif time.monotonic() > deadline:
                    raise
                log.info("orchestrator unreachable (%s); retrying in %.1f s", type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if resp.status_code == 503 and time.monotonic() < deadline:
                time.sleep(delay)
                continue
            if resp.status_code >= 400:
                raise OrchestratorError(resp.status_code, _detail(resp))
            return resp

    def enroll(self, device: str) -> EnrollResponse:
        req = EnrollRequest(
            node_id=self.cfg.node_id, compute_power=self.cfg.compute_power, device=device, ip=self.cfg.ip
        )
        headers = {"Authorization": f"Bearer {self.cfg.token}", "X-Node-Id": self.cfg.node_id}
        if self.node_token:  # enrolling again: proves this is the node that holds the id (a trial's only proof)
            headers["X-Node-Token"] = self.node_token
        resp = self._request("POST", "/v1/enroll", json=req.model_dump(), headers=headers)
        enrolled = EnrollResponse.model_validate(resp.json())
        self.node_token = enrolled.node_token
        return enrolled

    def next_task(self) -> Task | None:
        wait = self.cfg.poll_wait_s
        resp = self._request("GET", "/v1/tasks/next", params={"wait": wait}, headers=self._headers(), timeout=wait + 30)
        return None if resp.status_code == 204 else Task.model_validate(resp.json())

    def download(self, path: str) -> bytes:
        resp = self._request("GET", path, headers=self._headers())
        if resp.headers.get(DIGEST_HEADER) != sha256_hex(resp.content):
            raise WireError(f"download {path}: digest mismatch (corrupted transfer)")
        return resp.content

    def download_padding(self, nbytes: int) -> None:
        """Fetch and discard filler bytes ("paper volumes" mode), streamed: never more than
        one chunk in memory. A transfer cut mid-body is resumed for the bytes still owed,
        retried like any other request."""
        left, deadline, delay = nbytes, time.monotonic() + self.cfg.retry_for_s, 0.2
        while left > 0:
            resp = self._request("GET", f"/v1/artifacts/padding/{left}", headers=self._headers(), stream=True)
            try:
                for part in resp.iter_content(self._chunk()):
                    left -= len(part)
                    self._throttle(len(part))
                if left > 0:
                    raise requests.exceptions.ChunkedEncodingError("padding body ended early")
            except TRANSIENT as exc:
                if time.monotonic() > deadline:
                    raise
                log.info(
                    "padding download cut (%s) with %d bytes to go; resuming in %.1f s", type(exc).__name__, left, delay
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                resp.close()

    def upload_padding(self, nbytes: int) -> None:
        """Send filler bytes, streamed from one zero-filled chunk (memory stays flat at any size)."""
        if nbytes > 0:
            self._request(
                "POST",
                "/v1/padding",
                body=lambda: self._paced(_zeros(nbytes, self._chunk())),
                headers={**self._headers(), "Content-Type": "application/octet-stream"},
            )

    def _chunk(self) -> int:
        return CHUNK if self.cfg.padding_mbps is None else 16 * 1024

    def _throttle(self, nbytes: int) -> None:
        """With cfg.padding_mbps (a test aid): hold padding to that rate."""
        if self.cfg.padding_mbps:
            time.sleep(nbytes * 8 / (self.cfg.padding_mbps * 1e6))

    def _paced(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for c in chunks:
            self._throttle(len(c))
            yield c

    def base_info(self) -> BaseInfo:
        return BaseInfo.model_validate(self._request("GET", "/v1/artifacts/base-info", headers=self._headers()).json())

    def lora_settings(self) -> dict:
        return self._request("GET", "/v1/artifacts/lora", headers=self._headers()).json()

    def post_result(self, meta: dict, body: bytes) -> dict:
        headers = {
            **self._headers(),
            META_HEADER: json.dumps(meta),
            DIGEST_HEADER: sha256_hex(body),
            "Content-Type": "application/octet-stream",
        }
        return self._request("POST", "/v1/results", data=body, headers=headers).json()

    def ack(self, ack: Ack) -> dict:
        return self._request("POST", "/v1/acks", json=ack.model_dump(mode="json"), headers=self._headers()).json()

    def heartbeat(self) -> None:
        self._request("POST", "/v1/heartbeat", headers=self._headers(), timeout=10)


CHUNK = 1 << 20
_ZERO_CHUNK = bytes(CHUNK)


def _zeros(nbytes: int, chunk: int = CHUNK) -> Iterator[bytes]:
    view = memoryview(_ZERO_CHUNK)
    while nbytes > 0:
        n = min(nbytes, chunk)
        yield view[:n]
        nbytes -= n


def _detail(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("detail", resp.text))
    except ValueError:
        return resp.text[:200]
