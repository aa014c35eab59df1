"""The hub's media plane: WHIP ingest, recording, WHEP relay and talkback."""

from hub.media.config import MediaSettings
from hub.media.errors import MediaAuthError, MediaError
from hub.media.plane import MediaAuth, MediaPlane

__all__ = ["MediaAuth", "MediaAuthError", "MediaError", "MediaPlane", "MediaSettings"]
