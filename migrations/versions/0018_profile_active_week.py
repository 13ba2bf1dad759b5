"""profiles carry the week of their recency, for a match pool read in recency order

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 18:00:00.000000

"""
import datetime as dt
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

STEP_MINUTES = 10  # as in 0017
RECENT_WEEKS = 8  # services/discover.py: older weeks are folded into week 0

# The week of a timestamp: days since 1970-01-01, integer-divided by 7; 0 when there is none.
WEEK_POSTGRESQL = "coalesce(floor(extract(epoch FROM {0}) / 604800)::integer, 0)"
WEEK_SQLITE = "coalesce(CAST((julianday({0}) - 2440587.5) / 7 AS INTEGER), 0)"

POSTGRESQL = [
    """
    CREATE OR REPLACE FUNCTION profiles_follow_user() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE profiles
        SET user_active = (NEW.status = 'active'), active_at = NEW.last_active_at,
            active_week = %s
        WHERE user_id = NEW.id
          AND (user_active IS DISTINCT FROM (NEW.status = 'active')
               OR (active_at IS NULL) <> (NEW.last_active_at IS NULL)
               OR NEW.last_active_at < active_at
               OR NEW.last_active_at >= active_at + interval '%d minutes');
        RETURN NULL;
    END $$
    """ % (WEEK_POSTGRESQL.format("NEW.last_active_at"), STEP_MINUTES),
    """
    CREATE OR REPLACE FUNCTION profiles_from_user() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        SELECT status = 'active', last_active_at, %s
        INTO NEW.user_active, NEW.active_at, NEW.active_week
        FROM users WHERE id = NEW.user_id;
        RETURN NEW;
    END $$
    """ % WEEK_POSTGRESQL.format("last_active_at"),
]

SQLITE = [
    "DROP TRIGGER users_to_profiles",
    "DROP TRIGGER profiles_from_user",
    """
    CREATE TRIGGER users_to_profiles AFTER UPDATE OF status, last_active_at ON users
    FOR EACH ROW BEGIN
        UPDATE profiles
        SET user_active = (NEW.status = 'active'), active_at = NEW.last_active_at,
            active_week = %s
        WHERE user_id = NEW.id
          AND (user_active IS NOT (NEW.status = 'active')
               OR (active_at IS NULL) <> (NEW.last_active_at IS NULL)
               OR NEW.last_active_at < active_at
               OR NEW.last_active_at >= datetime(active_at, '+%d minutes'));
    END
    """ % (WEEK_SQLITE.format("NEW.last_active_at"), STEP_MINUTES),
    """
    CREATE TRIGGER profiles_from_user AFTER INSERT ON profiles
    FOR EACH ROW BEGIN
        UPDATE profiles
        SET user_active = (SELECT status = 'active' FROM users WHERE id = NEW.user_id),
            active_at = (SELECT last_active_at FROM users WHERE id = NEW.user_id),
            active_week = (SELECT %s FROM users WHERE id = NEW.user_id)
        WHERE user_id = NEW.user_id;
    END
    """ % WEEK_SQLITE.format("last_active_at"),
]


def upgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.add_column('profiles', sa.Column('active_week', sa.Integer(), nullable=True))
    week = (WEEK_POSTGRESQL if postgresql else WEEK_SQLITE).format('active_at')
    # Weeks older than RECENT_WEEKS are week 0 from the start (the hourly job keeps it so).
    today = dt.datetime.now(dt.timezone.utc).date()
    cutoff = (today - dt.date(1970, 1, 1)).days // 7 - RECENT_WEEKS + 1
    op.execute(
        f"UPDATE profiles SET active_week = CASE WHEN {week} >= {cutoff} THEN {week} ELSE 0 END"
    )
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)
    op.create_index(
        'ix_profiles_recent',
        'profiles',
        ['active_week', 'gender', 'geo_cell', 'date_of_birth', 'latitude', 'longitude',
         'discoverable', 'user_active', 'active_at'],
        unique=False,
        postgresql_include=['user_id'],
    )


def _revision_0017():
    path = Path(__file__).with_name('0017_profile_activity.py')
    spec = importlib.util.spec_from_file_location('migration_0017', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade():
    op.drop_index('ix_profiles_recent', table_name='profiles')
    previous = _revision_0017()
    if op.get_bind().dialect.name == 'postgresql':
        # 0017's functions, without active_week (CREATE OR REPLACE keeps the triggers).
        for statement in previous.POSTGRESQL[0::2]:
            op.execute(statement.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION', 1))
    else:
        op.execute('DROP TRIGGER users_to_profiles')
        op.execute('DROP TRIGGER profiles_from_user')
        for statement in previous.SQLITE:
            op.execute(statement)
    op.drop_column('profiles', 'active_week')
