"""keyshift django-migration against a real Django 5 project on real PostgreSQL.

A small project (contenttypes, auth, sessions, admin, messages, a custom user model in app
``accounts`` and ``shop.Order`` pointing at it) is written into tmp_path and migrated by Django
itself, and filled through the ORM, the admin and the test client: users, orders, admin log
entries, a logged-in session. keyshift converts ``accounts_user`` (and every table that references
it, remapping ``django_admin_log``'s object ids, emptying ``django_session``), writes the
state-only migration, the model line is edited as a user would, and Django must then agree with
the database: migrate records the migration, makemigrations sees no change, the orders still
reach their users through the ORM, new rows can be written, every admin log entry names the same
object as before (a user through keyshift's mapping), a superuser logs in to the admin, and the
old session's cookie makes an anonymous request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import django  # noqa: F401 - a dev dependency: missing, this file fails rather than skips
import pytest
from conftest import keyshift

from orchestrator.errors import Refused
from orchestrator.report import django_app
from orchestrator.report.django_migration import StateMigration, render

SETTINGS = """\
SECRET_KEY = "keyshift-test"
DEBUG = True
USE_TZ = True
ROOT_URLCONF = "proj.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast: the test hashes a few passwords
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "accounts",
    "shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {{
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        }},
    }}
]
# The test database is built from the models: its migrations alone would create an integer key.
DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", "TEST": {{"MIGRATE": False}}, {database}}}}}
"""

MANAGE = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""

ACCOUNTS_MODELS = """\
from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    pass
"""

URLS = """\
from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
"""

ACCOUNTS_ADMIN = """\
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User

admin.site.register(User, UserAdmin)
"""

SHOP_MODELS = """\
from django.conf import settings
from django.db import models


class Order(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    total = models.IntegerField()
"""

SHOP_TESTS = """\
import uuid

from django.test import TestCase

from accounts.models import User
from shop.models import Order


class OrderTest(TestCase):
    def test_order_of_a_new_user(self):
        user = User.objects.create_user(username="t")
        self.assertIsInstance(user.pk, uuid.UUID)
        self.assertEqual(Order.objects.create(user=user, total=1).user, user)
"""

SEED = """\
import json
from django.core.management import call_command
call_command("makemigrations", "accounts", "shop", verbosity=0)
call_command("migrate", verbosity=0)
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.test import Client, RequestFactory
from django.test.utils import setup_test_environment
from accounts.models import User
from shop.models import Order
setup_test_environment()
boss = User.objects.create_superuser(username="boss", password="x")
for i in range(3):
    u = User.objects.create_user(username=f"user{i}", password="x")
    for n in range(i + 1):
        Order.objects.create(user=u, total=100 * i + n)
# what the admin's change view logs: a LogEntry per user (and an order) whose object_id is the key as text
request = RequestFactory().get("/admin/")
request.user = boss
for obj in [*User.objects.order_by("pk"), Order.objects.first()]:
    admin.site._registry[type(obj)].log_change(request, obj, "changed")
client = Client()
assert client.post("/admin/login/", {"username": "boss", "password": "x"}).status_code == 302
assert client.post("/admin/auth/group/add/", {"name": "editors"}).status_code == 302  # logged by the admin
assert client.get("/admin/").status_code == 200
log = {
    e.pk: [*e.content_type.natural_key(), e.object_id, getattr(o, "username", str(o)), e.user.username]
    for e in LogEntry.objects.all()
    for o in [e.get_edited_object()]
}
print("seed", json.dumps({"session": client.cookies["sessionid"].value, "log": log}))
"""

AFTER = """\
import io
import uuid
from django.core.management import call_command
out = io.StringIO()
call_command("sqlmigrate", "accounts", "0002", stdout=out)
assert "ALTER" not in out.getvalue().upper(), out.getvalue()
call_command("makemigrations", check=True, dry_run=True, verbosity=0)  # no change left: exits 1 otherwise
from accounts.models import User
from shop.models import Order
users = {u.username: u for u in User.objects.all()}
assert len(users) == 4 and all(isinstance(u.pk, uuid.UUID) for u in users.values()), users
for i in range(3):
    totals = sorted(o.total for o in Order.objects.filter(user__username=f"user{i}"))
    assert totals == [100 * i + n for n in range(i + 1)], (i, totals)
    assert sorted(o.total for o in users[f"user{i}"].order_set.all()) == totals
new = User.objects.create_user(username="fresh", password="x")
assert isinstance(new.pk, uuid.UUID)
order = Order.objects.create(user=new, total=7)
assert Order.objects.get(pk=order.pk).user.username == "fresh"
group = new.groups.create(name="buyers")
assert list(group.user_set.all()) == [new]
# every admin log entry names the same object: a user's through the mapping, the others unchanged
from django.contrib.admin.models import LogEntry
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT old_id::text, new_id FROM keyshift.map_public__accounts_user")
    mapping = dict(cursor.fetchall())
entries = {str(e.pk): e for e in LogEntry.objects.select_related("content_type", "user")}
assert sorted(entries) == sorted(BEFORE), (sorted(entries), sorted(BEFORE))
kinds = set()
for pk, (app, model, old_id, name, by) in BEFORE.items():
    entry, kinds = entries[pk], kinds | {(app, model)}
    assert entry.content_type.natural_key() == (app, model) and entry.user.username == by, pk
    edited = entry.get_edited_object()
    if (app, model) == ("accounts", "user"):
        assert entry.object_id == str(mapping[old_id]) and edited.pk == mapping[old_id], (pk, old_id)
        assert edited.username == name, (pk, edited.username, name)
    else:
        assert entry.object_id == old_id and str(edited) == name, (pk, entry.object_id, str(edited))
assert kinds == {("accounts", "user"), ("shop", "order"), ("auth", "group")}, kinds
assert sum(m == ("accounts", "user") for m in (tuple(v[:2]) for v in BEFORE.values())) == len(mapping) == 4
# the admin, through the test client: log in, the index (its recent actions list the entries), a change page
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client()
assert client.post("/admin/login/", {"username": "boss", "password": "x"}).status_code == 302
assert client.get("/admin/").status_code == 200
assert client.get(f"/admin/accounts/user/{users['user1'].pk}/change/").status_code == 200
# the session from before migrate held the old integer id, which UUIDField rejects: it is gone, and
# its cookie makes an anonymous request that the admin sends to its login page
from django.contrib.sessions.backends.db import SessionStore
assert not SessionStore().exists(SESSION_KEY)
stale = Client()
stale.cookies["sessionid"] = SESSION_KEY
response = stale.get("/admin/")
assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), response
assert not response.wsgi_request.user.is_authenticated
print("orm ok")
"""


def _database(dsn: str) -> str:
    parts = dict(p.split("=", 1) for p in dsn.split())
    keys = {"host": "HOST", "port": "PORT", "user": "USER", "dbname": "NAME"}
    return ", ".join(f"{keys[k]!r}: {v!r}" for k, v in parts.items() if k in keys)


def _project(root: Path, dsn: str) -> Path:
    files = {
        "manage.py": MANAGE,
        "proj/__init__.py": "",
        "proj/urls.py": URLS,
        "proj/settings.py": SETTINGS.format(database=_database(dsn)),
        "accounts/__init__.py": "",
        "accounts/models.py": ACCOUNTS_MODELS,
        "accounts/admin.py": ACCOUNTS_ADMIN,
        "accounts/migrations/__init__.py": "",
        "shop/__init__.py": "",
        "shop/models.py": SHOP_MODELS,
        "shop/admin.py": "from django.contrib import admin\n\nfrom shop.models import Order\n\nadmin.site.register(Order)\n",
        "shop/migrations/__init__.py": "",
        "shop/tests.py": SHOP_TESTS,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _manage(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("keyshift: "), result.stderr
    assert all(w in lines[0] for w in words), lines[0]


def _django_migration(dsn: str, table: str, app: Path) -> subprocess.CompletedProcess:
    return keyshift(dsn, "django-migration", "--table", table, "--app-dir", str(app))


def test_django_project_follows_the_converted_user(dsn, tmp_path):
    started = time.monotonic()
    project = _project(tmp_path / "site", dsn)
    seeded = _ok(_manage(project, "shell", "-c", SEED))  # migrations, users, orders, admin log, a login
    seed = json.loads(seeded.split("seed ", 1)[1])
    accounts = project / "accounts"

    _refused(_django_migration(dsn, "public.accounts_user", accounts), "public.accounts_user", "not converted")
    migrations = tmp_path / "keyshift-migrations"
    sessions = ("--invalidate-sessions", "public.django_session")
    planned = keyshift(dsn, "plan", "--table", "public.accounts_user", "--uuid", "v7", *sessions, migrations=migrations)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    said = planned.stdout + planned.stderr
    assert "generic relation public.django_admin_log (content_type_id, object_id): object_id text" in said, said
    assert "-> public.accounts_user (Django content type accounts.user; 4 rows)" in said, said
    assert "invalidate sessions public.django_session: 1 rows emptied" in said, said
    assert "holds Django's database sessions" not in said, said  # the warning --invalidate-sessions answers
    migrated = keyshift(dsn, "migrate", migrations=migrations)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    # the refusals, on the same project
    _refused(_django_migration(dsn, "public.shop_order", project / "shop"), "public.shop_order", "not converted")
    _refused(_django_migration(dsn, "public.accounts_user", project / "shop"), "app shop", "accounts_user")
    _refused(_django_migration(dsn, "public.accounts_user", project / "proj"), "proj", "no migrations/ folder")
    assert sorted(p.name for p in (accounts / "migrations").glob("*.py")) == ["0001_initial.py", "__init__.py"]

    written = _django_migration(dsn, "public.accounts_user", accounts)
    assert written.returncode == 0, written.stdout + written.stderr
    new_file = accounts / "migrations" / "0002_keyshift_uuid_user.py"
    assert f"wrote {new_file}" in written.stdout
    line = next(x.strip() for x in written.stdout.splitlines() if x.startswith("    "))
    assert line == "id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)"
    assert "{'MIGRATE': False}" in written.stdout  # what a database built from migrations alone needs
    assert "time-ordered uuid v7 keys" in written.stdout  # the database default; Django's stays uuid4
    models = accounts / "models.py"
    models.write_text("import uuid\n\nfrom django.db import models\n" + ACCOUNTS_MODELS.replace("pass", line))

    # running it again writes nothing: Django's state already holds the uuid key
    _refused(_django_migration(dsn, "public.accounts_user", accounts), "accounts.User", "already has a UUIDField")

    migrated = _ok(_manage(project, "migrate", "-v", "2"))
    assert "accounts.0002_keyshift_uuid_user... OK" in migrated, migrated
    tested = _manage(project, "test", "shop")
    assert tested.returncode == 0 and "OK" in tested.stderr, tested.stdout + tested.stderr
    after = AFTER.replace("SESSION_KEY", repr(seed["session"])).replace("BEFORE", repr(seed["log"]))
    assert "orm ok" in _ok(_manage(project, "shell", "-c", after))
    print(f"django-migration test: {time.monotonic() - started:.1f} s")


def _app(root: Path, migrations: dict[str, str], apps: str | None = None) -> Path:
    (root / "migrations").mkdir(parents=True)
    (root / "migrations" / "__init__.py").write_text("")
    for name, body in migrations.items():
        (root / "migrations" / f"{name}.py").write_text(
            "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
            + textwrap.indent(textwrap.dedent(body), "    ")
        )
    if apps is not None:
        (root / "apps.py").write_text(apps)
    return root


def test_app_reading_finds_tables_leaves_and_squashes(tmp_path):
    root = _app(
        tmp_path / "billing",
        {
            "0001_initial": """
                operations = [
                    migrations.CreateModel("Invoice", [("number", models.IntegerField(primary_key=True,
                        db_column="no"))], options={"db_table": "ledger"}),
                    migrations.CreateModel(name=LONG, fields=[("id", models.BigAutoField(primary_key=True))]),
                    migrations.CreateModel(name="Gone", fields=[("id", models.AutoField(primary_key=True))]),
                ]
            """.replace("LONG", repr("A" * 70)),
            "0002_more": """
                dependencies = [("money", "0001_initial"), migrations.swappable_dependency("x.Y")]
                operations = [migrations.DeleteModel("Gone"), migrations.RenameModel("Invoice", "Bill"),
                              migrations.AlterModelTable("Bill", "bills")]
            """,
            "0003_a": 'dependencies = [("money", "0002_more")]',
            "0001_squashed_0003_a": 'replaces = [("money", "0001_initial"), ("money", "0002_more"),'
            ' ("money", "0003_a")]',
            "0004_b": 'dependencies = [("money", "0003_a")]',
        },
        apps="from django.apps import AppConfig\n\n\nclass C(AppConfig):\n    name = 'x.billing'\n"
        "    label = 'money'\n",
    )
    app = django_app.read_app(root)
    assert app.label == "money"
    bill = app.model_for_table("bills")
    assert (bill.name, bill.pk_field, bill.pk_column) == ("Bill", "number", "no")
    assert app.model_for_table("ledger") is None and app.model_for_table("money_gone") is None
    from django.db.backends.utils import truncate_name

    long_table = truncate_name("money_" + "a" * 70, 63)
    assert django_app.truncate_name("money_" + "a" * 70) == long_table
    assert app.model_for_table(long_table).name == "A" * 70
    assert app.leaves() == ["0004_b"]  # 0004 depends on 0003, which the squash stands for
    assert django_app.parse_number("0001_squashed_0003_a") == 3


def test_app_with_two_leaves_is_refused(tmp_path):
    after_initial = 'dependencies = [("shop", "0001_initial")]'
    root = _app(tmp_path / "shop", {"0001_initial": "initial = True", "0002_a": after_initial, "0002_b": after_initial})
    with pytest.raises(Refused, match=r"has 2 leaf migrations \(0002_a, 0002_b\).*--merge"):
        django_app.read_app(root).leaf("public.shop_order")


def test_rendered_migration_holds_any_name_as_a_literal():
    hostile = "x'\"\n) ; import os #"
    migration = StateMigration("shop", "0007_" + hostile, "Order", "id", hostile)
    text = render(migration)
    assert "import os" not in [line.strip() for line in text.splitlines()]
    assert migration.file_name(8) == "0008_keyshift_uuid_order.py"
    assert migration.model_line() == (
        f"id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column={hostile!r})"
    )


def test_migration_python_cannot_parse_is_refused(tmp_path):
    root = _app(tmp_path / "shop", {"0001_initial": "operations = ["})
    with pytest.raises(Refused, match=r"0001_initial.py: is not Python that can be read"):
        django_app.read_app(root)
