"""Fingerprint enrolments: which module slot holds which member's finger, and
an encrypted backup of each template so a replacement module (or a second
kiosk of the branch) can be restored. See docs/protocols/fingerprint-backup.md.

`models` (table), `crypto` (AES-GCM at rest, key from the hub's secret),
`schemas`, `service` (keyword-only functions taking a session), `views`
(device routes for the edge, operator routes for the dashboard).
"""
