from django.contrib import admin

from .models import BikeOrder, Note

admin.site.register(BikeOrder, list_display=["pk", "owner", "status", "created_at", "locked_at"])
admin.site.register(Note, list_display=["pk", "owner", "text", "created_at"])
