# Events (the outbox), webhook endpoints, their deliveries and delivery attempts (events/models.py).

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='Event',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('owner', models.CharField(max_length=64)),
                ('type', models.CharField(max_length=64)),
                ('data', models.JSONField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('dispatched_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'indexes': [models.Index(fields=['owner', '-created_at', '-id'], name='events_owner_recent'), models.Index(fields=['owner', 'type', '-created_at', '-id'], name='events_owner_type_recent'), models.Index(condition=models.Q(('dispatched_at__isnull', True)), fields=['created_at'], name='events_undispatched')],
                'constraints': [models.CheckConstraint(condition=models.Q(('type__in', ['account.deposit', 'account.withdrawal', 'hold.captured', 'hold.created', 'hold.expired', 'hold.voided', 'order.authorized', 'order.canceled', 'order.created', 'order.failed', 'order.paid', 'order.partially_refunded', 'order.pending_payment', 'order.refunded', 'refund.succeeded', 'transaction.reversed', 'transfer.created', 'wallet.bonus', 'wallet.spend', 'wallet.topup'])), name='events_event_type_known')],
            },
        ),
        migrations.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('owner', models.CharField(max_length=64)),
                ('url', models.CharField(max_length=2048)),
                ('events', models.JSONField(default=list, help_text='Event types delivered here, or ["*"] for all.')),
                ('description', models.CharField(blank=True, default='', max_length=500)),
                ('enabled', models.BooleanField(default=True)),
                ('secret_encrypted', models.TextField(editable=False)),
                ('previous_secret_encrypted', models.TextField(blank=True, default='', editable=False)),
                ('previous_secret_until', models.DateTimeField(blank=True, editable=False, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('deleted_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'indexes': [models.Index(fields=['owner', '-created_at', '-id'], name='events_endpoint_owner_recent')],
                'constraints': [models.CheckConstraint(condition=models.Q(('secret_encrypted', ''), _negated=True), name='events_endpoint_has_secret'), models.CheckConstraint(condition=models.Q(models.Q(('previous_secret_encrypted', ''), ('previous_secret_until__isnull', True)), models.Q(models.Q(('previous_secret_encrypted', ''), _negated=True), ('previous_secret_until__isnull', False)), _connector='OR'), name='events_endpoint_previous_secret_has_deadline'), models.CheckConstraint(condition=models.Q(('deleted_at__isnull', True), ('enabled', False), _connector='OR'), name='events_endpoint_deleted_is_disabled')],
            },
        ),
        migrations.CreateModel(
            name='Delivery',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('status', models.CharField(choices=[('PENDING', 'Pending'), ('DELIVERED', 'Delivered'), ('FAILED', 'Failed')], default='PENDING', max_length=10)),
                ('attempts', models.PositiveIntegerField(default=0, help_text='Attempts finished so far.')),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('first_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('event', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='deliveries', to='events.event')),
                ('endpoint', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='deliveries', to='events.webhookendpoint')),
            ],
            options={
                'verbose_name_plural': 'deliveries',
            },
        ),
        migrations.CreateModel(
            name='DeliveryAttempt',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('number', models.PositiveIntegerField()),
                ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('error', models.CharField(blank=True, default='', max_length=500)),
                ('duration_ms', models.PositiveIntegerField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='attempt_log', to='events.delivery')),
                ('endpoint', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='attempts', to='events.webhookendpoint')),
            ],
            options={
                'indexes': [models.Index(fields=['endpoint', '-created_at', '-id'], name='events_attempt_endpoint_recent')],
                'constraints': [models.UniqueConstraint(fields=('delivery', 'number'), name='events_attempt_number_unique'), models.CheckConstraint(condition=models.Q(('number__gte', 1)), name='events_attempt_number_from_one'), models.CheckConstraint(condition=models.Q(('status_code__isnull', True), ('status_code__range', (100, 599)), _connector='OR'), name='events_attempt_status_code_http'), models.CheckConstraint(condition=models.Q(('status_code__isnull', False), models.Q(('error', ''), _negated=True), _connector='OR'), name='events_attempt_has_outcome')],
            },
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('status', 'PENDING')), fields=['next_attempt_at'], name='events_delivery_due'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.UniqueConstraint(fields=('endpoint', 'event'), name='events_delivery_once_per_endpoint'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['PENDING', 'DELIVERED', 'FAILED'])), name='events_delivery_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'PENDING'), _negated=True), ('next_attempt_at__isnull', False), _connector='OR'), name='events_delivery_pending_is_scheduled'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('delivered_at__isnull', False), ('status', 'DELIVERED')), models.Q(models.Q(('status', 'DELIVERED'), _negated=True), ('delivered_at__isnull', True)), _connector='OR'), name='events_delivery_delivered_has_time'),
        ),
    ]
