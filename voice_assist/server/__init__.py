"""The live server: HTTP + websockets on Starlette/uvicorn.

- :mod:`.app`: routes, pages, health, credentials at the door (``create_app``).
- :mod:`.auth`: signed feed tokens, ingest API keys.
- :mod:`.ingress`, :mod:`.native`, :mod:`.twilio`, :mod:`.audiohook`: sans-I/O ingress
  adapters (messages in, actions out); :mod:`.legs`: payloads -> 16 kHz float32 per leg.
- :mod:`.ingest`: runs one adapter on one websocket against the engine.
- :mod:`.feeds`: the agent overlay and supervisor wall-board feeds.
- :mod:`.outbox`: bounded, ordered sending; slow clients are dropped.
- :mod:`.local`: run the server in-process (demo, benchmark, tests);
  :mod:`.ingest_client`: a native-protocol client (demo, benchmark, tests).
- :mod:`.api_calls`: stored calls and the replay page.
"""
