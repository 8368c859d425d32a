"""The demo's users, ``alice`` and ``bob``, password ``demo``: log in as each in two browsers."""

from django.apps.registry import Apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

USERNAMES = ["alice", "bob"]


def create_users(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    for username in USERNAMES:
        user_model.objects.get_or_create(username=username, defaults={"password": make_password("demo")})


def delete_users(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model(settings.AUTH_USER_MODEL).objects.filter(username__in=USERNAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("demo", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create_users, delete_users)]
