"""The staff demo user, ``admin``, password ``demo``: the staff dashboard's link and Django's admin."""

from django.apps.registry import Apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

USERNAME = "admin"


def create_staff_user(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model(settings.AUTH_USER_MODEL).objects.get_or_create(
        username=USERNAME,
        defaults={"password": make_password("demo"), "is_staff": True, "is_superuser": True},
    )


def delete_staff_user(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model(settings.AUTH_USER_MODEL).objects.filter(username=USERNAME).delete()


class Migration(migrations.Migration):
    dependencies = [("demo", "0002_demo_users")]

    operations = [migrations.RunPython(create_staff_user, delete_staff_user)]
