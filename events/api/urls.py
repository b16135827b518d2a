"""Events and webhook endpoints routes, all in the `webhooks` scope."""

from django.urls import path

from mintguard_site.api.auth import scoped
from mintguard_site.api.models import Scope

from . import views

urlpatterns = [
    path("events", scoped(views.EventList, Scope.WEBHOOKS), name="event-list"),
    path("events/<str:event_id>", scoped(views.EventDetail, Scope.WEBHOOKS), name="event-detail"),
    path("webhook-endpoints", scoped(views.EndpointListCreate, Scope.WEBHOOKS), name="webhook-endpoint-list"),
    path("webhook-endpoints/<str:endpoint_id>", scoped(views.EndpointDetail, Scope.WEBHOOKS),
         name="webhook-endpoint-detail"),
    path("webhook-endpoints/<str:endpoint_id>/rotate-secret", scoped(views.EndpointRotateSecret, Scope.WEBHOOKS),
         name="webhook-endpoint-rotate-secret"),
    path("webhook-endpoints/<str:endpoint_id>/deliveries", scoped(views.EndpointDeliveries, Scope.WEBHOOKS),
         name="webhook-endpoint-deliveries"),
    path("webhook-endpoints/<str:endpoint_id>/deliveries/<str:event_id>/resend",
         scoped(views.DeliveryResend, Scope.WEBHOOKS), name="webhook-delivery-resend"),
]
