"""Dashboard routes of the events app (the API's are in events/api/urls.py)."""

from django.urls import path

from . import views

app_name = "events"

urlpatterns = [
    path("events/", views.event_list, name="events"),
    path("events/<uuid:event_id>/", views.event_detail, name="event-detail"),
    path("events/<uuid:event_id>/deliveries/<uuid:endpoint_id>/", views.delivery_detail, name="delivery-detail"),
    path("events/<uuid:event_id>/deliveries/<uuid:endpoint_id>/resend/", views.delivery_resend,
         name="delivery-resend"),
    path("events/endpoints/", views.endpoint_list, name="endpoints"),
    path("events/endpoints/<uuid:endpoint_id>/", views.endpoint_detail, name="endpoint-detail"),
    path("events/endpoints/<uuid:endpoint_id>/state/", views.endpoint_set_enabled, name="endpoint-state"),
]
