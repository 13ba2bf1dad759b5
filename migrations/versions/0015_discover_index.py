"""discover index led by gender, covering the filters

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 21:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.create_index(
            'ix_profiles_discover',
            ['gender', 'latitude', 'longitude', 'date_of_birth', 'discoverable'],
            unique=False,
            postgresql_include=['user_id'],
        )
        batch_op.drop_index('ix_profiles_geo')


def downgrade():
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.create_index('ix_profiles_geo', ['latitude', 'longitude'], unique=False)
        batch_op.drop_index('ix_profiles_discover')
