"""Cluster settings (nested under `cluster` in the hub's Settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ClusterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nats_url: str | None = Field(
        default=None, title="NATS server URL (e.g. nats://10.0.0.2:4222)",
        description="Empty (default): one machine, no broker, nothing below applies. Set on every node of a "
        "multi-node hub; the server needs JetStream (`nats-server -js`) for the node registry",
    )
    node_id: str | None = Field(
        default=None, title="This node's name, unique in the cluster",
        description="Empty: the host name and port",
    )
    role: Literal["all", "api", "media"] = Field(
        default="all", title="What this node does",
        description="all: API, wall sockets and live media (single machine); api: API and wall sockets, "
        "WHIP redirected and WHEP carried to media nodes; media: API and wall sockets too, and carries halls",
    )
    media_url: str | None = Field(
        default=None, title="Base URL halls and the other hub nodes use to reach this node's WHIP/WHEP (media nodes)",
        description="e.g. http://10.0.0.11:8600; empty: http://<host>:<port>. Browsers never use it: their "
        "live views are carried here by the node they signed in on (the media itself goes to "
        "media.ice_host_addresses)",
    )
    heartbeat_seconds: float = Field(default=1.0, gt=0, le=30, title="How often a node says it is alive (s)")
    node_timeout_seconds: float = Field(
        default=4.0, gt=0, le=120, title="Silence after which a node counts as dead (s)",
        description="Its halls are shown offline at once and redirected to the other nodes",
    )
    subject_prefix: str = Field(default="branchlive", pattern=r"^[A-Za-z0-9_-]+$",
                                title="Prefix of NATS subjects and of the KV bucket (one per county)")

    @model_validator(mode="after")
    def _timeout_above_heartbeat(self) -> ClusterSettings:
        if self.node_timeout_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("node_timeout_seconds must be at least twice heartbeat_seconds "
                             "(one lost heartbeat must not kill a node)")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.nats_url)

    @property
    def serves_media(self) -> bool:
        return self.role != "api"
