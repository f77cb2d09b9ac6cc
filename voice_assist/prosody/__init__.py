"""Per-leg prosody (tone, volume, pitch) on short frames, aggregated over a sliding window.

* :mod:`voice_assist.prosody.tracker`: :class:`ProsodyTracker`, the streaming core
  (``feed(samples) -> [ProsodyFrame]``, ``finish()``).
* :mod:`voice_assist.prosody.features`: frame analysis (librosa YIN F0 with a voicing
  decision, level, spectral shape) and the window summary; :data:`FEATURE_NAMES` documents
  every feature and its unit.
* :mod:`voice_assist.prosody.synth`: a deterministic speech-like test voice.

Importing this package is cheap; the first :class:`ProsodyTracker` loads librosa (about two
seconds, once per process).
"""
