#!/usr/bin/env bash
# Regenerate the small speech clips under tests/data (committed) with espeak-ng + sox.
# Speech is synthetic; the benchmarks add real speech.  Usage: scripts/make_test_audio.sh
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/tests/data"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
say() { espeak-ng -v "$1" -s "$2" -p "$3" -a "$4" -w "$tmp/$5.wav" "$6"; sox "$tmp/$5.wav" -r 16000 -c 1 "$tmp/$5.16k.wav"; }
sil() { sox -n -r 16000 -c 1 "$tmp/$1.wav" trim 0 "$2"; }
say en-us 150 50 100 c1 "I have been waiting for an hour and nobody has helped me."
say en-us 165 50 100 c2 "Can you please check my account and tell me what is going on with the bill."
say en-us 160 45 100 a1 "Thank you for calling. How can I help you today?"
sil s05 0.5; sil s15 1.5; sil s3 3.0
# one utterance, mono, with leading and trailing silence (customer leg)
sox "$tmp/s05.wav" "$tmp/c1.16k.wav" "$tmp/s15.wav" "$out/utterance_en.flac"
# two utterances separated by a pause (segmentation)
sox "$tmp/s05.wav" "$tmp/c1.16k.wav" "$tmp/s15.wav" "$tmp/c2.16k.wav" "$tmp/s15.wav" "$out/two_utterances_en.flac"
# stereo call: agent speaks first on channel 1, then the customer on channel 0
sox "$tmp/s05.wav" "$tmp/a1.16k.wav" "$tmp/s15.wav" "$tmp/agent.wav"
a_len=$(soxi -D "$tmp/agent.wav")
sox -n -r 16000 -c 1 "$tmp/lead.wav" trim 0 "$a_len"
sox "$tmp/lead.wav" "$tmp/c1.16k.wav" "$tmp/s15.wav" "$tmp/customer.wav"
c_len=$(soxi -D "$tmp/customer.wav")
sox "$tmp/agent.wav" "$tmp/agent_pad.wav" pad 0 "$(echo "$c_len - $a_len" | bc)"
sox -M "$tmp/customer.wav" "$tmp/agent_pad.wav" "$out/call_stereo_en.flac"
# a long monologue (> 25 s, no long pause) to exercise utterance splitting
text="My name is Alex and I am calling about my broadband service which has not worked properly since last Tuesday when the engineer came to install the new router and after he left the lights kept flashing orange and the connection kept dropping every few minutes so I could not work from home at all and I had to go to the library every single day this week which is really not acceptable for the price I am paying every month"
espeak-ng -v en-us -s 150 -g 2 -w "$tmp/long.wav" "$text"
sox "$tmp/long.wav" -r 16000 -c 1 "$out/long_monologue_en.flac"
ls -la "$out"
