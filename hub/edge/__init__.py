"""The edge gateway: one WebSocket per hall agent (docs/protocols/edge-ws.md)."""
