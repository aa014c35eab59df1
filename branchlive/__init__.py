"""Glue for the `branchlive` command: dispatch to hub, edge agent, emulators,
demo and benchmarks. The only package allowed to start both hub and devices
(as separate processes or modules), because it owns the demo and benches."""
