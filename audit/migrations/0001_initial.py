"""The audit log, moved from `operators` without moving a row: the model enters this app's state
on its existing table, `operators_auditentry` (created by `operators` 0001, made append-only on
PostgreSQL by `operators` 0002). `operators` 0004 moves its view permission here.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("operators", "0003_audit_entry_moves_to_audit"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='AuditEntry',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False)),
                        ('actor_name', models.CharField(help_text='The username at the time of the action.', max_length=150)),
                        ('action', models.CharField(choices=[('refund.created', 'Refund created'), ('payment.resolved', 'Pending payment resolved'), ('api_key.created', 'API key created'), ('api_key.revoked', 'API key revoked')], max_length=32)),
                        ('target_type', models.CharField(help_text='What was acted on: order, api_client.', max_length=32)),
                        ('target_id', models.CharField(max_length=64)),
                        ('before', models.JSONField(blank=True, default=dict)),
                        ('after', models.JSONField(blank=True, default=dict)),
                        ('note', models.CharField(blank=True, default='', max_length=500)),
                        ('actor', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='audit_entries', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name_plural': 'audit entries',
                        'db_table': 'operators_auditentry',
                        'default_permissions': ('view',),
                        'indexes': [models.Index(fields=['target_type', 'target_id', '-created_at'], name='operators_audit_target'), models.Index(fields=['-created_at', '-id'], name='operators_audit_recent')],
                    },
                ),
            ],
        ),
    ]
