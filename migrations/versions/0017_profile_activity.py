"""profiles carry the account's state and recency for discover, kept by triggers

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 02:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

STEP_MINUTES = 10  # models/dating.py: Profile.active_at follows in steps of this

POSTGRESQL = [
    """
    CREATE FUNCTION profiles_follow_user() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE profiles
        SET user_active = (NEW.status = 'active'), active_at = NEW.last_active_at
        WHERE user_id = NEW.id
          AND (user_active IS DISTINCT FROM (NEW.status = 'active')
               OR (active_at IS NULL) <> (NEW.last_active_at IS NULL)
               OR NEW.last_active_at < active_at
               OR NEW.last_active_at >= active_at + interval '%d minutes');
        RETURN NULL;
    END $$
    """ % STEP_MINUTES,
    """
    CREATE TRIGGER users_to_profiles AFTER UPDATE OF status, last_active_at ON users
    FOR EACH ROW EXECUTE FUNCTION profiles_follow_user()
    """,
    """
    CREATE FUNCTION profiles_from_user() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        SELECT status = 'active', last_active_at INTO NEW.user_active, NEW.active_at
        FROM users WHERE id = NEW.user_id;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER profiles_from_user BEFORE INSERT ON profiles
    FOR EACH ROW EXECUTE FUNCTION profiles_from_user()
    """,
]

# SQLite keeps datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text; datetime() drops the fraction,
# which only makes a step a fraction of a second shorter.
SQLITE = [
    """
    CREATE TRIGGER users_to_profiles AFTER UPDATE OF status, last_active_at ON users
    FOR EACH ROW BEGIN
        UPDATE profiles
        SET user_active = (NEW.status = 'active'), active_at = NEW.last_active_at
        WHERE user_id = NEW.id
          AND (user_active IS NOT (NEW.status = 'active')
               OR (active_at IS NULL) <> (NEW.last_active_at IS NULL)
               OR NEW.last_active_at < active_at
               OR NEW.last_active_at >= datetime(active_at, '+%d minutes'));
    END
    """ % STEP_MINUTES,
    """
    CREATE TRIGGER profiles_from_user AFTER INSERT ON profiles
    FOR EACH ROW BEGIN
        UPDATE profiles
        SET user_active = (SELECT status = 'active' FROM users WHERE id = NEW.user_id),
            active_at = (SELECT last_active_at FROM users WHERE id = NEW.user_id)
        WHERE user_id = NEW.user_id;
    END
    """,
]


def upgrade():
    # Plain ALTER TABLE, not a batch: SQLite's batch mode copies the table, which would drop
    # the triggers below (a later migration that copies profiles must create them again).
    op.add_column('profiles', sa.Column('user_active', sa.Boolean(), nullable=True))
    op.add_column('profiles', sa.Column('active_at', sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE profiles SET"
        " user_active = (SELECT status = 'active' FROM users WHERE users.id = profiles.user_id),"
        " active_at = (SELECT last_active_at FROM users WHERE users.id = profiles.user_id)"
    )
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)
    op.drop_index('ix_profiles_discover', table_name='profiles')
    op.create_index(
        'ix_profiles_discover',
        'profiles',
        ['gender', 'geo_cell', 'date_of_birth', 'latitude', 'longitude', 'discoverable',
         'user_active', 'active_at'],
        unique=False,
        postgresql_include=['user_id'],
    )


def downgrade():
    op.drop_index('ix_profiles_discover', table_name='profiles')
    op.create_index(
        'ix_profiles_discover',
        'profiles',
        ['gender', 'geo_cell', 'date_of_birth', 'latitude', 'longitude', 'discoverable'],
        unique=False,
        postgresql_include=['user_id'],
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER profiles_from_user ON profiles')
        op.execute('DROP TRIGGER users_to_profiles ON users')
        op.execute('DROP FUNCTION profiles_from_user()')
        op.execute('DROP FUNCTION profiles_follow_user()')
    else:
        op.execute('DROP TRIGGER profiles_from_user')
        op.execute('DROP TRIGGER users_to_profiles')
    op.drop_column('profiles', 'active_at')
    op.drop_column('profiles', 'user_active')
