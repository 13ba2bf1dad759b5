"""a refund or dispute that arrives before its payment waits for it

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 04:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payment_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('waiting_event', sa.JSON(), nullable=True))
        batch_op.create_index('ix_payment_events_waiting', ['provider', 'payment_id'], unique=False)


def downgrade():
    with op.batch_alter_table('payment_events', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_events_waiting')
        batch_op.drop_column('waiting_event')
        batch_op.drop_column('payment_id')
