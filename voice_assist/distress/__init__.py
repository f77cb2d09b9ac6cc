"""Customer distress from prosody and words, with a per-caller baseline.

* :mod:`~voice_assist.distress.estimator`: :class:`DistressEstimator` (``on_prosody``,
  ``on_transcript``, ``finish``) emitting DistressUpdate and DistressEpisode.
* :mod:`~voice_assist.distress.baseline`: the caller's calm reference (robust, slow, frozen
  while distress is raised).
* :mod:`~voice_assist.distress.scoring`: the model file (trained weights + hand-set extras).
* :mod:`~voice_assist.distress.lexicon`: distress phrases from ``data/distress_lexicon.toml``.
* :mod:`~voice_assist.distress.episodes`: hysteresis, minimum duration, cooldown.
* :mod:`~voice_assist.distress.evaluation` / :mod:`~voice_assist.distress.training`: offline
  arousal evaluation and model fitting (not used at run time).
"""

from voice_assist.distress.estimator import DistressEstimator
from voice_assist.distress.lexicon import Lexicon, load_lexicon
from voice_assist.distress.scoring import DistressModel, load_model

__all__ = ["DistressEstimator", "DistressModel", "Lexicon", "load_lexicon", "load_model"]
