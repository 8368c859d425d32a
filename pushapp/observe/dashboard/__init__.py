"""The staff dashboard, ``dashboard/`` under ``pushapp.urls``: the cluster live, a search, two actions.

Live over pushapp itself: the page's connection is granted :data:`pushapp.runtime.telemetry.WATCH_GROUP`, and
every hub pushes its report there each second while someone watches (:mod:`pushapp.server.hub.report`).
"""
