"""branch secretaries: in-app notifications addressed to an account; plan status "resubmitted"

The role itself needs no schema change (operators.role is a string). An
in-app message to a branch is delivered to the branch's secretary accounts
(notifications.operator_id), and a returned plan filed again is
"resubmitted" (11 characters: meeting_plans.status grows to 12).

Revision ID: 0009b
Revises: 0005b, 0003_supervision
Create Date: 2026-11-30 15:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009b"
# Grows from the operators head, and joins the supervision head whose tables
# it alters (a merge point: "upgrade heads" then always creates those first).
down_revision = ("0005b", "0003_supervision")
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (not batch mode): on SQLite a batch would copy and drop
    # the table, and SQLite cannot add a constraint to a table (nor enforces
    # VARCHAR lengths): the foreign key and the wider status are PostgreSQL's.
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("notifications", sa.Column("operator_id", sa.Integer(), nullable=True))
    op.create_index("ix_notifications_operator_id", "notifications", ["operator_id"], unique=False)
    if not sqlite:
        op.create_foreign_key("fk_notifications_operator_id_operators", "notifications", "operators",
                              ["operator_id"], ["id"])
        op.alter_column("meeting_plans", "status", existing_type=sa.String(length=10), type_=sa.String(length=12),
                        existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("meeting_plans", "status", existing_type=sa.String(length=12), type_=sa.String(length=10),
                        existing_nullable=False)
        op.drop_constraint("fk_notifications_operator_id_operators", "notifications", type_="foreignkey")
    op.drop_index("ix_notifications_operator_id", table_name="notifications")
    op.drop_column("notifications", "operator_id")
