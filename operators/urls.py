"""Dashboard shell routes: sign in and out, overview, audit log, API keys."""

from django.urls import path

from . import views

app_name = "operators"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("audit/", views.audit, name="audit"),
    path("api-keys/", views.api_keys, name="api-keys"),
    path("api-keys/new/", views.api_key_create, name="api-key-create"),
    path("api-keys/<uuid:client_id>/revoke/", views.api_key_revoke, name="api-key-revoke"),
]
