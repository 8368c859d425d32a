"""The demo's data: bike rides whose lock calls back, and notes whose changes are pushed to their owner."""

from django.conf import settings
from django.db import models


class BikeOrder(models.Model):
    """A shared-bike ride. The lock's provider calls back when the bike is locked; the rider is told."""

    class Status(models.TextChoices):
        RIDING = "riding"
        LOCKED = "locked"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bike_orders")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RIDING)
    created_at = models.DateTimeField(auto_now_add=True)
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"order #{self.pk} ({self.status})"


class Note(models.Model):
    """A note; saving one pushes it to every page its owner has open (see signals.py)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notes")
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return self.text
