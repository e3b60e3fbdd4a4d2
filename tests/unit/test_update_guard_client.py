"""An honest edge client told that its answer was stale or refused (a 4xx other than 401)
waits for its next task; only an authentication failure it cannot recover from ends it
(edge_client/agent.py). Before, any 4xx but 401/409 ended the client: in the poisoning run
of issue 25 both honest clients exited when their results were refused.

The orchestrator here is a scripted stand-in (a FAKE): an honest run never refuses an
honest node's result, so the refusal cannot be caused for real without a hostile node;
tests/integration/test_poisoning.py runs the real thing end to end."""

from types import SimpleNamespace

import pytest

from edge_client.agent import EdgeAgent
from edge_client.config import EdgeConfig
from edge_client.transport import OrchestratorError
from edgeft.wire import Task, TaskKind


class ScriptedOrchestrator:
    """Answers next_task from a script: an exception is raised, a task is returned."""

    def __init__(self, script: list, enrol_outcomes: list | None = None) -> None:
        self.script, self.enrolments = list(script), 0
        self.enrol_outcomes = list(enrol_outcomes or [])  # None: accepted; an exception: raised
        self.node_token = "t"

    def enroll(self, device: str):
        self.enrolments += 1
        outcome = self.enrol_outcomes.pop(0) if self.enrol_outcomes else None
        if outcome is not None:
            raise outcome
        return SimpleNamespace(heartbeat_s=1.0)

    def next_task(self):
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def _agent(orchestrator: ScriptedOrchestrator) -> EdgeAgent:
    agent = EdgeAgent(EdgeConfig(orchestrator="http://127.0.0.1:9", token="t", node_id="node-01", device="cpu"))
    agent.client = orchestrator
    return agent


@pytest.mark.parametrize("status", [400, 403, 404, 409, 413, 422])
def test_a_refused_or_stale_answer_leaves_the_client_waiting_for_its_next_task(status):
    stop = Task(kind=TaskKind.STOP, version=3)
    orch = ScriptedOrchestrator([OrchestratorError(status, "refused"), None, stop])
    _agent(orch).run()  # returns at STOP: it did not exit at the refusal
    assert orch.script == [] and orch.enrolments == 1


def test_an_authentication_failure_that_reenrolment_cannot_fix_ends_the_client():
    orch = ScriptedOrchestrator(
        [OrchestratorError(401, "unknown node")], enrol_outcomes=[None, OrchestratorError(401, "not this run's")]
    )
    with pytest.raises(OrchestratorError) as exc:
        _agent(orch).run()
    assert exc.value.status == 401 and orch.enrolments == 2  # it tried to enrol again, and was refused


def test_a_server_error_still_ends_the_client():
    with pytest.raises(OrchestratorError):
        _agent(ScriptedOrchestrator([OrchestratorError(500, "boom")])).run()
