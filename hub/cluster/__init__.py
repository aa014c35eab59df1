"""Several hub nodes on one or more machines (issue 15).

One PostgreSQL shared by every node; events between nodes and the registry
of live media nodes go through NATS (docs/cluster.md says why NATS); halls
are assigned to media nodes by rendezvous hashing over the live ones;
halls are redirected there (WHIP: 307) and operators' live views carried
there (WHEP, relay.py). With no broker configured (the default) none of
this runs and the hub is one process, as before.

- config.py: ClusterSettings (nested under `cluster` in the hub's settings)
- rendezvous.py: pure highest-random-weight hashing
- codec.py: pure JSON codec of bus events
- registry.py: pure registry of nodes and of who holds which branch live
- broker.py: the NATS side (bus bridge, heartbeat in a KV bucket, watcher)
- redirect.py: WHIP POSTs redirected (307) to the right node, WHEP carried there
- relay.py: the HTTP hop that carries WHEP to the node holding the hall
"""
