"""Pure natural-language understanding for debtor replies, driven by locale pack data."""

from agent.nlu.intents import understand
from agent.nlu.types import INTENTS, NluContext, NluResult

__all__ = ["INTENTS", "NluContext", "NluResult", "understand"]
