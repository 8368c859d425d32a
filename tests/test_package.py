"""pushapp as users get it: the sdist and the wheel built with ``python -m build``, the wheel installed
(with the redis extra) into a fresh virtualenv, and a project there that uses what must ship in it: the
JS client, the template tag, the Lua scripts. Nothing of the checkout is on that path."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.processes import REPO_ROOT
from tests.support.wheel import InstalledWheel

pytestmark = pytest.mark.integration

CHECK = r"""
import sys
from pathlib import Path

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.staticfiles", "pushapp"],
    STATIC_URL="/static/",
    ROOT_URLCONF="pushapp.urls",
    SECRET_KEY="package-test",
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
    CHANNEL_LAYERS={"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                                "CONFIG": {"hosts": [sys.argv[1]]}}},
)
django.setup()
import pushapp
from django.contrib.staticfiles import finders
from django.template import Context, Template
from django.test import RequestFactory

from pushapp.presence import get_backend
from pushapp.history import get_history

assert "site-packages" in pushapp.__file__ and not pushapp.__file__.startswith(sys.argv[2]), pushapp.__file__
script = finders.find("pushapp/pushapp.js")
assert script and "PushappClient" in Path(script).read_text(), script


class User:
    pk = 7
    is_authenticated = True


request = RequestFactory().get("/")
request.user = User()
html = Template("{% load pushapp %}{% pushapp_script %}").render(Context({"request": request}))
assert 'src="/static/pushapp/pushapp.js"' in html and "data-token=" in html, html
assert get_backend().all_uids() == []  # presence.lua, shipped, run by Redis
print("ok", pushapp.__file__)
"""


def test_the_built_wheel_installs_and_works_on_its_own(
    installed_wheel: InstalledWheel, redis_url: str
) -> None:
    assert len(list(installed_wheel.dist.glob("pushapp-*.tar.gz"))) == 1
    result = subprocess.run(
        [str(installed_wheel.python), "-c", CHECK, redis_url, str(REPO_ROOT)],
        cwd=installed_wheel.dist,
        env=installed_wheel.env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok "), result.stdout


def test_pip_picks_the_newest_django_this_python_supports(installed_wheel: InstalledWheel) -> None:
    """Django 5.2 LTS on Python 3.11 (6.x needs 3.12), 6.1 or newer on 3.12+: no upper bound holds it back."""
    django = installed_wheel.version_of("Django")
    if sys.version_info >= (3, 12):
        assert django >= (6, 1), django
    else:
        assert django[:2] == (5, 2), django
