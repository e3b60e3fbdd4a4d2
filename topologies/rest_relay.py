"""A TCP relay in the root namespace: the emulated network's server host reaches a
controller REST API that listens on the machine's loopback.

The controller of the three-terminal workflow is started before the network
exists and, by default, listens on 127.0.0.1 only (its write endpoints change
what the scores see). The topology script links the root namespace into the
network (10.254.0.1, routed only from the server host) and relays connections
to that address on to the controller, so neither the controller's bind address
nor the machine's routes have to change.
"""

from __future__ import annotations

import asyncio
import logging
import threading

log = logging.getLogger(__name__)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


class RestRelay:
    """Relays (listen_host, listen_port) -> (target_host, target_port) in a daemon thread."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.listen, self.target = listen, target
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="rest-relay", daemon=True)

    def start(self, timeout: float = 10.0) -> "RestRelay":
        self.thread.start()
        if not self.ready.wait(timeout) or self.error is not None:
            raise OSError(
                f"could not listen on {self.listen[0]}:{self.listen[1]} for the controller relay: {self.error}"
            )
        log.info("controller REST relayed from %s:%d to %s:%d", *self.listen, *self.target)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError as exc:
            log.warning("controller REST at %s:%d unreachable: %s", *self.target, exc)
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(asyncio.start_server(self._handle, *self.listen))
        except OSError as exc:
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
