"""Scale-out: call workers and feed gateways joined by Redis streams (docs/scaleout.md).

The embedded default (one process, :class:`voice_assist.runtime.bus.EventBus`) needs none
of this.  ``codec`` (an event <-> a stream entry), ``redis_bus`` (key names, the relay
into a gateway's bus), ``worker`` (a worker's publisher, liveness and control), ``gateway``
(the feeds' hub for every worker's calls, the lost-worker sweep), ``roles`` (start-up
inside ``serve``), ``site`` (``serve --workers N`` and a private ``redis-server``).
"""
