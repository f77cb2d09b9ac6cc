"""voice_assist: a real-time empathy coach for phone support."""

__version__ = "0.1.0"
