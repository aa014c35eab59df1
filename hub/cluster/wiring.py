"""Joining the cluster from the app factory (hub/app.py): nothing happens
unless `cluster.nats_url` is set."""

from __future__ import annotations

from fastapi import FastAPI

from hub.cluster.broker import ClusterNode, default_node_id
from hub.cluster.redirect import MediaRedirect
from hub.cluster.relay import WhepRelay
from hub.config import Settings
from hub.events import EventBus


def init_cluster(settings: Settings, bus: EventBus, app: FastAPI) -> ClusterNode | None:
    c = settings.cluster
    if not c.enabled:
        return None
    media_url = c.media_url or settings.public_url or f"http://{settings.host}:{settings.port}"
    node = ClusterNode(c, bus, node_id=c.node_id or default_node_id(settings.host, settings.port),
                       media_url=media_url if settings.media.enabled else None)
    relay = WhepRelay(node.node_id, max_body=settings.media.max_sdp_bytes)
    node.on_stop(relay.aclose)
    app.add_middleware(MediaRedirect, node=node, relay=relay)
    return node
