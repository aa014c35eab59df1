"""Recordings: every meeting kept whole, once, verified, playable and exportable.

A domain of its own (models, store, service, views), fed by live media
(hub/media hands it finished segments) and by edge uploads; it works with
the live media plane switched off."""
