"""fingerprints: enrolled fingers per branch slot, templates encrypted at rest

Revision ID: 0004_fingerprints
Revises: 0001_core
Create Date: 2026-11-23 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0004_fingerprints"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fingerprint_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("finger", sa.String(length=32), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("template_size", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["org_units.id"],
                                name=op.f("fk_fingerprint_enrolments_branch_id_org_units")),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], ondelete="SET NULL",
                                name=op.f("fk_fingerprint_enrolments_device_id_devices")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name=op.f("fk_fingerprint_enrolments_member_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fingerprint_enrolments")),
        sa.UniqueConstraint("branch_id", "slot", name="uq_fingerprint_enrolments_branch_slot"),
    )
    op.create_index(op.f("ix_fingerprint_enrolments_branch_id"), "fingerprint_enrolments", ["branch_id"])
    op.create_index(op.f("ix_fingerprint_enrolments_member_id"), "fingerprint_enrolments", ["member_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_fingerprint_enrolments_member_id"), table_name="fingerprint_enrolments")
    op.drop_index(op.f("ix_fingerprint_enrolments_branch_id"), table_name="fingerprint_enrolments")
    op.drop_table("fingerprint_enrolments")
