"""branch secretaries: in-app notifications addressed to an account; plan status "resubmitted"

The role itself needs no schema change (operators.role is a string). An
in-app message to a branch is delivered to the branch's secretary accounts
(notifications.operator_id), and a returned plan filed again is
"resubmitted" (11 characters: meeting_plans.status grows to 12).

Revision ID: 0009b
Revises: 0005b
Create Date: 2026-11-30 15:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009b"
down_revision = "0005b"
branch_labels = None
# The tables altered here come from the supervision branch.
depends_on = "0003_supervision"


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operator_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_notifications_operator_id_operators"), "operators",
                                    ["operator_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_notifications_operator_id"), ["operator_id"], unique=False)
    with op.batch_alter_table("meeting_plans", schema=None) as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=10), type_=sa.String(length=12),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("meeting_plans", schema=None) as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=12), type_=sa.String(length=10),
                              existing_nullable=False)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_operator_id"))
        batch_op.drop_constraint(batch_op.f("fk_notifications_operator_id_operators"), type_="foreignkey")
        batch_op.drop_column("operator_id")
