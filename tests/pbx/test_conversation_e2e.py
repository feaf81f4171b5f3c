"""Issue 3 end to end: the bot hears a real utterance, understands it, and answers.

The far side is a simulated debtor driven by this test through its own ARI app and media
channel (tests/harness/debtor.py), on the other side of the Local channel the bot dialled.
The speech model is the real Korean Vosk model (the only one installable here), with the
test-only Korean script pack whose turns expect 네 / 아니요 / 네 오늘 낼게요.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path

import pytest

from tests.harness.debtor import SimulatedDebtors

pytestmark = [pytest.mark.pbx, pytest.mark.vosk]

KO_PACK = str(Path(__file__).resolve().parents[1] / "fixtures/locales/ko")
TODAY = date.today().isoformat()


@pytest.fixture(scope="module")
def daemon_env(daemon_env: dict[str, str]) -> dict[str, str]:
    """The shared daemon settings, speaking the Korean test pack, reprompting after 2 s."""
    return {**daemon_env, "TAGIH_CALL_LOCALE": KO_PACK, "TAGIH_CALL_SILENCE_S": "2",
            "TAGIH_NEGOTIATION_MAX_REPROMPTS": "1"}


def _call_args(tag: str) -> list[str]:
    return ["--name", "김민수", "--amount-due", "300000", "--due", TODAY, "--today", TODAY,
            "--currency", "KRW", "--var", f"__SIM_TAG={tag}", "--var", "TAGIH_AMD=no"]


async def _place(daemon, number: str, tag: str) -> asyncio.Task:
    return asyncio.create_task(asyncio.to_thread(daemon.call, number, *_call_args(tag)))


async def test_debtor_answers_and_bot_replies_with_the_next_prompt(daemon, tts_render) -> None:
    tag = f"t3-conv-{uuid.uuid4().hex[:8]}"
    yes, pay_today = tts_render("네", "ko"), tts_render("네 오늘 낼게요", "ko")
    async with SimulatedDebtors().running() as debtors:
        line_f = debtors.expect(tag)
        call = await _place(daemon, "5001", tag)
        async with asyncio.timeout(30):
            line = await line_f
        _, prompt_end = await line.wait_bot_prompt()  # "...김민수 님 맞으세요?"
        said = await line.say(yes)
        reply_at = await line.first_voice_after(said.last_voiced)
        _, reply_end = await line.wait_bot_prompt(after=said.end)  # the reminder + the ask
        said2 = await line.say(pay_today)
        await line.wait_bot_prompt(after=said2.end)  # read-back: "... 맞으세요?"
        await line.say(yes)
        async with asyncio.timeout(60):
            report = await call
    texts = [(t["speaker"], t["text"]) for t in report["turns"]]
    assert texts[1] == ("debtor", "네"), texts
    assert "납부" in texts[2][1] and "삼십만 원" in texts[2][1], texts  # the personalised reminder
    assert texts[3] == ("debtor", "네 오늘 낼게요"), texts
    assert report["disposition"] == "PTP_FULL", report
    assert report["promises"] == [{"amount": 300000, "date": TODAY, "instalment": 1}]
    assert prompt_end < said.last_voiced < reply_at < reply_end
    print(f"\nturn latency as the debtor heard it: {1000 * (reply_at - said.last_voiced):.0f} ms; "
          f"bot-side replies_ms {report['replies_ms']}")


async def test_barge_in_stops_the_bot_and_it_listens(daemon, tts_render) -> None:
    tag = f"t3-barge-{uuid.uuid4().hex[:8]}"
    yes, pay_today = tts_render("네", "ko"), tts_render("네 오늘 낼게요", "ko")
    async with SimulatedDebtors().running() as debtors:
        line_f = debtors.expect(tag)
        call = await _place(daemon, "5002", tag)
        async with asyncio.timeout(30):
            line = await line_f
        await line.wait_bot_prompt()
        said = await line.say(yes)
        reminder_at = await line.first_voice_after(said.last_voiced)  # about 6 s long
        await asyncio.sleep(max(0.0, reminder_at + 1.0 - asyncio.get_running_loop().time()))
        assert line.bot_speaking
        cut_in = await line.say(pay_today)  # 1.05 s of speech, straight into the reminder
        # the bot's reply cannot start before 300 ms of trailing silence: anything voiced up to
        # then is the reminder still playing
        bot_stop = line.last_voice_before(cut_in.last_voiced + 0.25)
        await line.wait_bot_prompt(after=cut_in.end)  # the read-back of what it understood
        await line.hangup()
        async with asyncio.timeout(60):
            report = await call
    assert report["barge_ins"] >= 1, report
    texts = [(t["speaker"], t["text"]) for t in report["turns"]]
    assert texts[3] == ("debtor", "네 오늘 낼게요"), texts
    assert "맞으세요" in texts[4][1], texts  # read-back: "... 내시는 거 맞으세요?"
    # the reminder was cut: the debtor heard it for far less than its full length
    full = len(tts_render(texts[2][1], "ko")) / 16000
    heard = bot_stop - reminder_at
    assert bot_stop < cut_in.last_voiced and heard < full - 2.0, (heard, full)
    stop_ms = 1000 * max(0.0, bot_stop - cut_in.start)
    print(f"\nbarge-in: the debtor heard the bot stop {stop_ms:.0f} ms after starting to speak"
          f" ({heard:.1f} s of a {full:.1f} s prompt); bot side {report['barge_in_ms']}")


async def test_silence_reprompts_then_ends_politely(daemon) -> None:
    tag = f"t3-quiet-{uuid.uuid4().hex[:8]}"
    async with SimulatedDebtors().running() as debtors:
        line_f = debtors.expect(tag)
        call = await _place(daemon, "5003", tag)
        async with asyncio.timeout(30):
            line = await line_f
        async with asyncio.timeout(60):
            report = await call
        await asyncio.sleep(0.3)
    bot = [t["text"] for t in report["turns"] if t["speaker"] == "bot"]
    assert report["disposition"] == "NO_RESPONSE", report
    assert len(bot) == 3, bot  # the question, one reprompt (max_reprompts=1), the goodbye
    assert bot[1].startswith("여보세요?") and bot[1].endswith(bot[0])
    assert len([s for s in line.heard.segments if s[1] - s[0] > 0.3]) >= 3
