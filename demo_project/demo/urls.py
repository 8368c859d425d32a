from django.urls import path

from . import api, views

app_name = "demo"

urlpatterns = [
    path("", views.index, name="index"),
    path("orders/", views.create_order, name="create_order"),
    path("notes/", views.create_note, name="create_note"),
    path("room/<slug:name>/", views.room, name="room"),
    path("room/<slug:name>/join/", views.room_join, name="room_join"),
    path("room/<slug:name>/leave/", views.room_leave, name="room_leave"),
    path("room/<slug:name>/send/", views.room_send, name="room_send"),
    path("api/bike/callback/", api.bike_callback, name="bike_callback"),
]
