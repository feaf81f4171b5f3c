"""The daemon process, wired: model, voice, store, FastAGI, ARI calls and the scheduler.

`tagih run` calls serve(); everything opened here is closed here, in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from agent.agi import AgiServer
from agent.asr import Asr
from agent.config import Config
from agent.daemon import Daemon, install_signal_handlers
from agent.dialer import AriDialer
from agent.scheduler import Scheduler, SchedulerSettings
from agent.store import Store
from agent.tts import Tts

log = logging.getLogger(__name__)


async def serve(cfg: Config, announce: Callable[[str], None]) -> None:
    """Run until SIGINT/SIGTERM; start-up problems raise TagihError naming what is wrong."""
    stop = asyncio.Event()
    install_signal_handlers(stop)
    asr = await Asr.load(cfg.asr)  # fails fast with the model path and what is wrong
    tts = Tts(cfg.tts)
    store: Store | None = None
    agi: AgiServer | None = None
    try:
        await tts.check_voice(cfg.tts.voice_id)
        await tts.check_voice(cfg.tts.voice_en)
        store = await Store.open(cfg.store.path)
        agi = AgiServer(store, host=cfg.agi.host, port=cfg.agi.port)
        await agi.start()  # the dialplan's pre-dial check and inbound caller lookup
        daemon = Daemon(cfg, tts, asr, store)
        announce(f"tagih: daemon up; ARI {cfg.ari.url} app {cfg.ari.app}; model "
                 f"{asr.model_path}; store {cfg.store.path}; control socket "
                 f"{cfg.daemon.control_socket}")
        async with asyncio.TaskGroup() as tg:
            tg.create_task(daemon.run(stop), name="daemon")
            if cfg.scheduler.enabled:
                settings = SchedulerSettings(concurrency=cfg.scheduler.concurrency,
                                             tick_s=cfg.scheduler.tick_s)
                scheduler = Scheduler(store, AriDialer(daemon, store), settings=settings)
                tg.create_task(_after_connect(daemon, stop, scheduler.run(stop)),
                               name="scheduler")
    finally:
        if agi is not None:
            await agi.close()
        if store is not None:
            await store.close()
        await tts.aclose()
        await asr.aclose()


async def _after_connect(daemon: Daemon, stop: asyncio.Event,
                         job: Coroutine[Any, Any, None]) -> None:
    """Start dialing only once ARI is up (the scheduler would record failures otherwise)."""
    async with asyncio.TaskGroup() as tg:
        up = tg.create_task(daemon.ari.connected.wait())
        stopped = tg.create_task(stop.wait())
        await asyncio.wait({up, stopped}, return_when=asyncio.FIRST_COMPLETED)
        up.cancel()
        stopped.cancel()
    if stop.is_set():
        job.close()
        return
    await job
