"""Benchmarks of voice_assist: ``voice-assist bench NAME`` (needs the dev extras)."""
