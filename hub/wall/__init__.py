"""The live wall's state and `WS /ws/wall` (docs/protocols/wall-ws.md)."""
