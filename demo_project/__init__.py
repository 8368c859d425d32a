"""A small runnable project showing pushapp: ``python manage.py migrate && python manage.py runserver``."""
