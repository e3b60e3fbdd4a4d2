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
from typing import Any

import requests

from edgeft.wire import DIGEST_HEADER, META_HEADER, Ack, EnrollRequest, EnrollResponse, Task, WireError, sha256_hex
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

    def _request(self, method: str, path: str, timeout: float | None = None, **kw: Any) -> requests.Response:
        deadline = time.monotonic() + self.cfg.retry_for_s
        delay = 0.2
        while True:
            try:
                resp = self.session.request(method, self.base + path, timeout=timeout or self.cfg.request_timeout_s,
                                            verify=self.verify, **kw)
            except requests.exceptions.SSLError as exc:  # a certificate problem does not go away by retrying
                raise OrchestratorError(0, f"TLS handshake with {self.base} failed ({exc.__context__ or exc}); "
                                           "give the orchestrator's certificate with --ca-bundle") from None
            except TRANSIENT as exc:
                if time.monotonic() > deadline:
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
        req = EnrollRequest(node_id=self.cfg.node_id, compute_power=self.cfg.compute_power, device=device, ip=self.cfg.ip)
        resp = self._request("POST", "/v1/enroll", json=req.model_dump(), headers={"Authorization": f"Bearer {self.cfg.token}"})
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
        """Fetch and discard filler bytes ("paper volumes" mode)."""
        if nbytes > 0:
            resp = self._request("GET", f"/v1/artifacts/padding/{nbytes}", headers=self._headers(), stream=True)
            for _ in resp.iter_content(1 << 20):
                pass

    def upload_padding(self, nbytes: int) -> None:
        if nbytes > 0:
            self._request("POST", "/v1/padding", data=bytes(nbytes), headers={**self._headers(), "Content-Type": "application/octet-stream"})

    def lora_settings(self) -> dict:
        return self._request("GET", "/v1/artifacts/lora", headers=self._headers()).json()

    def post_result(self, meta: dict, body: bytes) -> dict:
        headers = {**self._headers(), META_HEADER: json.dumps(meta), DIGEST_HEADER: sha256_hex(body),
                   "Content-Type": "application/octet-stream"}
        return self._request("POST", "/v1/results", data=body, headers=headers).json()

    def ack(self, ack: Ack) -> dict:
        return self._request("POST", "/v1/acks", json=ack.model_dump(mode="json"), headers=self._headers()).json()

    def heartbeat(self) -> None:
        self._request("POST", "/v1/heartbeat", headers=self._headers(), timeout=10)


def _detail(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("detail", resp.text))
    except ValueError:
        return resp.text[:200]
