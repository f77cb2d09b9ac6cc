"""The exception tree of voice_assist.

::

    VoiceAssistError               base of everything we raise on purpose
    ├── ConfigError                unknown key, wrong type, bad value in a config file or env var
    ├── ModelError                 model missing, corrupt (sha256), or failing to load
    ├── AudioError                 input audio that cannot be used
    │   ├── UnsupportedAudioError  unknown codec/encoding/sample rate
    │   └── CorruptAudioError      empty, truncated or undecodable file / frame
    ├── ProtocolError              a client broke a wire protocol (bad JSON, wrong order, bad sizes)
    ├── AuthError                  missing, expired or forged credentials (401)
    │   └── ForbiddenError         a valid credential whose role may not do this (403)
    ├── OverloadError              the server refuses new work on purpose (load shedding)
    └── StoreError                 the call store or audio archive cannot be used
        ├── CallNotFoundError      no stored call with that id
        └── CallLiveError          a live call cannot be deleted (HTTP 409)

Inside the pipeline an exception becomes a :class:`~voice_assist.events.PipelineError`
event for its call; other calls never see it.
"""


class VoiceAssistError(Exception):
    """Base class for errors raised on purpose by voice_assist."""


class ConfigError(VoiceAssistError):
    pass


class ModelError(VoiceAssistError):
    pass


class AudioError(VoiceAssistError):
    pass


class UnsupportedAudioError(AudioError):
    pass


class CorruptAudioError(AudioError):
    pass


class ProtocolError(VoiceAssistError):
    """A client broke a wire protocol; ``code`` is a short machine-readable reason."""

    def __init__(self, message: str, *, code: str = "protocol_error") -> None:
        super().__init__(message)
        self.code = code


class AuthError(VoiceAssistError):
    """Not authenticated: no, a malformed, a forged or an expired credential (HTTP 401)."""


class ForbiddenError(AuthError):
    """Authenticated, but this credential's role may not do this (HTTP 403)."""


class OverloadError(VoiceAssistError):
    pass


class StoreError(VoiceAssistError):
    pass


class CallNotFoundError(StoreError):
    pass


class CallLiveError(StoreError):
    """The call is still live (being recorded, here or by another process): not deleted."""
