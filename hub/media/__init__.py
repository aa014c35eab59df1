"""The hub's media plane: WHIP ingest, recording, WHEP relay and talkback,
carried by media nodes (hub/media/node.py) behind one front (MediaPlane)."""

from hub.media.config import MediaSettings
from hub.media.errors import MediaAuthError, MediaError
from hub.media.node import MediaNode
from hub.media.plane import MediaAuth, MediaPlane

__all__ = ["MediaAuth", "MediaAuthError", "MediaError", "MediaNode", "MediaPlane", "MediaSettings"]
