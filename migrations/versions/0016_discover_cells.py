"""discover by grid cell; match % answers from one covering index

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 01:45:00.000000

"""
from alembic import op

from core import geo


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            'ALTER TABLE profiles ADD COLUMN geo_cell integer '
            f'GENERATED ALWAYS AS ({geo.CELL_SQL_POSTGRESQL}) STORED'
        )
    else:  # SQLite adds only virtual generated columns to a table; they can be indexed
        op.execute(
            'ALTER TABLE profiles ADD COLUMN geo_cell INTEGER '
            f'GENERATED ALWAYS AS ({geo.CELL_SQL_SQLITE}) VIRTUAL'
        )
    op.drop_index('ix_profiles_discover', table_name='profiles')
    op.create_index(
        'ix_profiles_discover',
        'profiles',
        ['gender', 'geo_cell', 'date_of_birth', 'latitude', 'longitude', 'discoverable'],
        unique=False,
        postgresql_include=['user_id'],
    )
    op.create_index(
        'ix_match_answers_scoring',
        'match_answers',
        ['user_id', 'question_id', 'choice', 'acceptable', 'importance'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_match_answers_scoring', table_name='match_answers')
    op.drop_index('ix_profiles_discover', table_name='profiles')
    op.create_index(
        'ix_profiles_discover',
        'profiles',
        ['gender', 'latitude', 'longitude', 'date_of_birth', 'discoverable'],
        unique=False,
        postgresql_include=['user_id'],
    )
    op.execute('ALTER TABLE profiles DROP COLUMN geo_cell')
