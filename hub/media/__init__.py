"""The hub's media plane: WHIP ingest, recording, WHEP relay, talkback."""
