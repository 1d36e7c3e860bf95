"""One worker owns the model: concurrent chat requests wait in a queue and are generated together in batches.

Not run directly; the app starts a `Batcher` at startup and calls `await batcher.submit(conversation, config)`.
A request waits at most `wait_ms` for others to join its batch; generation runs in a thread so the server stays responsive.
"""

import asyncio
from dataclasses import dataclass, field

from taskalign.models import GenerationConfig, Reply


class ModelError(Exception):
    """The model failed for this request (a crashed backend or an error reply)."""


class Busy(Exception):
    """The queue is full; the client should retry later."""


@dataclass
class _Job:
    conversation: list[dict]
    config: GenerationConfig
    future: asyncio.Future = field(repr=False)


class Batcher:
    def __init__(self, model, max_batch: int = 16, wait_ms: float = 10.0, max_queue: int = 256):
        self.model, self.max_batch, self.wait_s = model, max_batch, wait_ms / 1000
        self.queue: asyncio.Queue = asyncio.Queue(max_queue)
        self.batch_sizes: list[int] = []  # observed batch sizes, for tests and /health
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, conversation: list[dict], config: GenerationConfig) -> Reply:
        job = _Job(conversation, config, asyncio.get_running_loop().create_future())
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            raise Busy("the model queue is full") from None
        reply = await job.future
        if reply.error:
            raise ModelError(reply.error)
        return reply

    async def _collect(self) -> list[_Job]:
        jobs = [await self.queue.get()]
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while len(jobs) < self.max_batch:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                jobs.append(await asyncio.wait_for(self.queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return jobs

    async def _run(self) -> None:
        while True:
            jobs = await self._collect()
            # generate() takes one config per call, so jobs with different settings go in separate sub-batches.
            groups: dict[GenerationConfig, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(job.config, []).append(job)
            for config, group in groups.items():
                await self._generate(config, group)

    async def _generate(self, config: GenerationConfig, group: list[_Job]) -> None:
        self.batch_sizes.append(len(group))
        try:
            replies = await asyncio.to_thread(self.model.generate, [j.conversation for j in group], config)
            if len(replies) != len(group):
                raise RuntimeError(f"model returned {len(replies)} replies for {len(group)} conversations")
        except Exception as exc:  # a crashing backend fails this batch, never the worker
            replies = [Reply.failed(f"{exc.__class__.__name__}: {exc}") for _ in group]
        for job, reply in zip(group, replies):
            if not job.future.done():
                job.future.set_result(reply)
