"""The vocabulary that flows between the hops of a call: frozen, slotted dataclasses.

media -> AudioFrame -> asr -> Utterance -> dialog -> Say | Hangup | Promise -> tts/media.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One frame of mono 16-bit little-endian PCM (normally 20 ms)."""

    pcm: bytes
    rate: int = 8000
    at: float = 0.0  # monotonic clock time it arrived (receive side) or is due (send side)

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2

    @property
    def duration(self) -> float:
        return self.samples / self.rate


@dataclass(frozen=True, slots=True)
class Utterance:
    """What the recogniser heard. `final` False is a partial result."""

    text: str
    final: bool = True
    started_at: float = 0.0  # monotonic time of the first voiced frame
    ended_at: float = 0.0  # monotonic time of the last voiced frame


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Voice activity began on the debtor's side (drives barge-in)."""

    at: float  # monotonic time of the first voiced frame


@dataclass(frozen=True, slots=True)
class Silence:
    """The debtor said nothing for `seconds` after the bot stopped speaking."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Say:
    """Speak `text`. `expect` are the phrases this turn expects (a recogniser grammar)."""

    text: str
    prompt: str = ""  # the prompt id in the locale pack, e.g. "greeting"
    expect: tuple[str, ...] = ()
    barge_in: bool = True


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call after any speech queued before it has been played."""

    disposition: str = "HANGUP"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Promise:
    """A promise to pay agreed on the call."""

    amount: int
    date: str  # ISO date
    instalment: int = 1


@dataclass(frozen=True, slots=True)
class Turn:
    """One line of the transcript."""

    speaker: str  # "bot" or "debtor"
    text: str
    intent: str = ""
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What a call achieved; written by the call supervisor when the call ends."""

    disposition: str
    promises: tuple[Promise, ...] = ()
    callback_at: str | None = None
    flags: tuple[str, ...] = ()
    turns: tuple[Turn, ...] = field(default_factory=tuple)
    rpc: bool = False  # the debtor verified themselves (right-party contact)
