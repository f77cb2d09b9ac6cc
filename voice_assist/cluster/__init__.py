"""Scale-out pieces: call events over Redis streams between worker and gateway processes.

The embedded default (one process, :class:`voice_assist.runtime.bus.EventBus`) needs none
of this.  So far only the stream adapter exists (:mod:`voice_assist.cluster.redis_bus`);
the worker and gateway processes that use it are not built yet.
"""
