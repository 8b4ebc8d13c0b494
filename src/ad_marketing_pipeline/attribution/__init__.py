"""Attribution: channels, sessions, touchpoints and conversion paths from Silver events, seven
attribution models (first click, last click, last non-direct click, linear, time decay,
position based, Markov removal effects) and the marts built on them.

Pure transforms live in `channels`, `sessions`, `paths`, `models`, `markov` and `marts`; the
tables in `tables`; the stream and the batch refresh (the I/O edge) in `stream`, whose
`ATTRIBUTION` layer the pipeline registers.
"""

from __future__ import annotations
