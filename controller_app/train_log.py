"""The capacity trains in flight to each node, and the estimate the finished ones make
(the math: controller_app/capacity.py). Pure state: the probing app feeds it the trains it
sends and the replies it catches, and the path monitor reads the figure."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from controller_app.capacity import FRAME_BYTES, TRAIN_PACKETS, CapacityEstimate, judge_train

log = logging.getLogger("edgeft.controller")
DEFAULT_MBPS = 0.5  # the rate a train is assumed to drain at before a node has an estimate


@dataclass
class OpenTrain:
    train_id: int
    sent_at: float
    arrivals: dict[int, float] = field(default_factory=dict)  # position -> arrival time


class TrainLog:
    """Per node: the train still open (sent, replies coming in) and the estimate of the
    trains judged so far."""

    def __init__(self) -> None:
        self.estimates: dict[str, CapacityEstimate] = {}  # by node ip
        self.open: dict[str, OpenTrain] = {}

    def clear(self) -> None:
        """Forget every train and estimate (a new experiment starts)."""
        self.estimates.clear()
        self.open.clear()

    def measured(self, ip: str) -> bool:
        """Whether the node has a capacity figure from its trains."""
        estimate = self.estimates.get(ip)
        return estimate is not None and estimate.mbps is not None

    def sent(self, ip: str, train_id: int, at: float) -> None:
        if ip in self.open:  # the last one to this node still waits for stragglers: judge it now
            self._close(ip, at)
        self.open[ip] = OpenTrain(train_id, at)

    def reply(self, ip: str, train_id: int, position: int, at: float) -> None:
        train = self.open.get(ip)
        if train is not None and train.train_id == train_id:
            train.arrivals[position] = at

    def busy(self, ip: str, now: float, rtt_s: float) -> bool:
        """Whether a train may still fill this node's bottleneck queue: a delay probe sent
        now would measure the train's queue, not the path. Judged from the last estimate
        (DEFAULT_MBPS before there is one) and the path's round trip, with 50 % margin."""
        train = self.open.get(ip)
        if train is None:
            return False
        estimate = self.estimates.get(ip)
        mbps = estimate.mbps if estimate is not None and estimate.mbps else DEFAULT_MBPS
        return now - train.sent_at < 1.5 * (TRAIN_PACKETS * FRAME_BYTES * 8 / (mbps * 1e6) + rtt_s) + 0.05

    def close_due(self, now: float, timeout_s: float, complete: int) -> list[tuple[str, OpenTrain, float | None]]:
        """Turn trains that are complete or older than `timeout_s` into estimates; returns
        (ip, train, Mb/s or None) of each closed train."""
        return [
            self._close(ip, now)
            for ip, train in list(self.open.items())
            if len(train.arrivals) >= complete or now - train.sent_at > timeout_s
        ]

    def _close(self, ip: str, now: float) -> tuple[str, OpenTrain, float | None]:
        train = self.open.pop(ip)
        verdict = judge_train(train.arrivals)
        estimate = self.estimates.setdefault(ip, CapacityEstimate())
        if verdict.mbps is not None:
            estimate.add(verdict.mbps, now)
        elif verdict.reason != "too few":  # bunched or a poor fit: counted, not used
            estimate.refuse()
        log.debug(
            "train to %s: %d back, arrivals %s ms, %s Mb/s %s",
            ip,
            len(train.arrivals),
            [(pos, round(1000 * (at - train.sent_at), 1)) for pos, at in sorted(train.arrivals.items())],
            verdict.mbps,
            verdict.reason,
        )
        return ip, train, verdict.mbps

    def record(self, ip: str) -> dict:
        """How far the trains behind a node's capacity agree: PathAnswer's capacity_trains,
        capacity_spread_mbps and capacity_refused (trains bunched by the controller's own
        scheduling or fitting poorly)."""
        estimate = self.estimates.get(ip)
        if estimate is None:
            return {"capacity_trains": 0, "capacity_spread_mbps": None, "capacity_refused": 0}
        spread = estimate.spread_mbps
        return {
            "capacity_trains": len(estimate.recent),
            "capacity_spread_mbps": round(spread, 3) if spread is not None else None,
            "capacity_refused": estimate.refused,
        }
