"""The error vocabulary. Library code raises these; only agent.cli turns them into exit codes."""


class TagihError(Exception):
    """Base of every error tagih raises on purpose. str(err) is one clear line."""


class ConfigError(TagihError):
    """A configuration key is missing or holds a bad value."""


class AriError(TagihError):
    """Asterisk ARI refused a request or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MediaError(TagihError):
    """The media transport (RTP, AudioSocket) failed."""


class AsrError(TagihError):
    """The speech recogniser or its model failed."""


class TtsError(TagihError):
    """Speech synthesis failed or timed out."""


class StoreError(TagihError):
    """The SQLite store failed or holds unexpected data."""


class ImportFileError(TagihError):
    """An import file cannot be read at all (bad header, wrong encoding)."""


class PolicyViolation(TagihError):
    """An action would break the calling policy (window, cap, DNC)."""


class PbxError(TagihError):
    """The PBX sandbox could not be provisioned, started or stopped."""
