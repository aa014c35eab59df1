"""Edge media: encode once (or pass an IP camera's H.264 through), publish over WHIP, talkback."""

from .config import IceServerSettings, MediaSettings, PublisherSettings, VideoSettings
from .edge import EdgeMedia
from .encoder import EncoderSettings, VideoEncoder
from .errors import (
    EncoderError,
    MediaError,
    WhipAuthError,
    WhipError,
    WhipHttpError,
    WhipProtocolError,
)
from .ice import restrict_host_addresses, rtc_configuration
from .publisher import Publisher, PublisherState, PublisherStatus
from .talkback import AudioSink, EnergySink, SpeakerSink, TalkbackMonitor
from .tracks import EncodedVideoTrack, PassthroughVideoTrack, SourceAudioTrack
from .whip import WhipClient, WhipResource

__all__ = [
    "AudioSink", "EdgeMedia", "EncodedVideoTrack", "EncoderError", "EncoderSettings", "EnergySink",
    "IceServerSettings", "MediaError", "MediaSettings", "PassthroughVideoTrack",
    "Publisher", "PublisherSettings", "PublisherState", "PublisherStatus", "SourceAudioTrack", "SpeakerSink", "TalkbackMonitor",
    "VideoEncoder", "VideoSettings", "WhipAuthError", "WhipClient", "WhipError", "WhipHttpError",
    "WhipProtocolError", "WhipResource", "restrict_host_addresses", "rtc_configuration",
]
