"""``manage.py pushserve``: daphne workers sharing one listening socket, under a supervisor.

:mod:`.supervisor` opens the socket once and keeps the workers running (restarts, reload, shutdown);
:mod:`.worker` is one worker process (``python -m pushapp.pushserve.worker``); :mod:`.gcpolicy` is how a
worker handles the garbage collector. See docs/deployment.md.
"""
