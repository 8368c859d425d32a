from django.urls import path

from . import api, views

app_name = "demo"

urlpatterns = [
    path("", views.index, name="index"),
    path("bike/", views.bike, name="bike"),
    path("orders/", views.create_order, name="create_order"),
    path("notes/", views.notes, name="notes"),
    path("room/<slug:name>/", views.room, name="room"),
    path("room/<slug:name>/members/", views.room_members, name="room_members"),
    path("room/<slug:name>/send/", views.room_send, name="room_send"),
    path("api/bike/callback/", api.bike_callback, name="bike_callback"),
]
