"""Authorize now, capture later: AUTHORIZED and CANCELED orders, authorizations, paid_amount.

Orders gain `paid_amount` (what was charged or captured; refunds are capped by it) and payments
their kind, capture and authorization columns. The data step fills them in for what exists before
the constraints that rely on them are added: every paid order was paid its whole amount, and every
succeeded payment took all of it.
"""

import django.utils.timezone
from django.db import migrations, models
from django.db.models import F

PAID_STATUSES = ("PAID", "PARTIALLY_REFUNDED", "REFUNDED")


def paid_amounts_backfill(apps, schema_editor):
    apps.get_model("payments", "Order").objects.filter(status__in=PAID_STATUSES).update(paid_amount=F("amount"))
    apps.get_model("payments", "Payment").objects.filter(status="SUCCEEDED").update(captured_amount=F("amount"))


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0004_order_permissions'),
    ]

    operations = [
        migrations.CreateModel(
            name='SimulatedAuthorization',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('idempotency_key', models.CharField(max_length=255, unique=True)),
                ('amount', models.BigIntegerField()),
                ('currency', models.CharField(max_length=12)),
                ('outcome', models.CharField(choices=[('authorized', 'Authorized'), ('declined', 'Declined')], max_length=10)),
                ('reference', models.CharField(max_length=100, unique=True)),
                ('failure_reason', models.CharField(blank=True, default='', max_length=100)),
                ('closure', models.CharField(blank=True, choices=[('', 'Open'), ('captured', 'Captured'), ('voided', 'Voided')], default='', max_length=10)),
                ('captured_amount', models.BigIntegerField(blank=True, null=True)),
                ('closed_by_key', models.CharField(blank=True, default='', help_text="The capture's or void's key.", max_length=255)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.RemoveConstraint(
            model_name='order',
            name='payments_order_refunded_within_amount',
        ),
        migrations.RemoveConstraint(
            model_name='order',
            name='payments_order_status_valid',
        ),
        migrations.RemoveConstraint(
            model_name='payment',
            name='payments_payment_status_valid',
        ),
        migrations.RemoveConstraint(
            model_name='payment',
            name='payments_payment_one_in_flight',
        ),
        migrations.AddField(
            model_name='order',
            name='paid_amount',
            field=models.BigIntegerField(default=0, help_text='What was charged or captured; refunds are capped by it.'),
        ),
        migrations.AddField(
            model_name='payment',
            name='authorized_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='payment',
            name='captured_amount',
            field=models.BigIntegerField(blank=True, help_text='What the provider took (or a capture in progress claims); null until then.', null=True),
        ),
        migrations.AddField(
            model_name='payment',
            name='closing_key',
            field=models.CharField(blank=True, help_text="The client's key of the capture or void that claimed it.", max_length=255, null=True),
        ),
        migrations.AddField(
            model_name='payment',
            name='kind',
            field=models.CharField(choices=[('charge', 'Charge'), ('authorization', 'Authorization')], default='charge', max_length=13),
        ),
        migrations.AlterField(
            model_name='order',
            name='status',
            field=models.CharField(choices=[('CREATED', 'Created'), ('PENDING_PAYMENT', 'Pending payment'), ('AUTHORIZED', 'Authorized'), ('PAID', 'Paid'), ('FAILED', 'Failed'), ('CANCELED', 'Canceled'), ('PARTIALLY_REFUNDED', 'Partially refunded'), ('REFUNDED', 'Refunded')], default='CREATED', max_length=20),
        ),
        migrations.AlterField(
            model_name='payment',
            name='amount',
            field=models.BigIntegerField(help_text="What was asked of the provider: the order's amount."),
        ),
        migrations.AlterField(
            model_name='payment',
            name='status',
            field=models.CharField(choices=[('PROCESSING', 'Processing'), ('SUCCEEDED', 'Succeeded'), ('FAILED', 'Failed'), ('PENDING', 'Pending'), ('AUTHORIZED', 'Authorized'), ('CAPTURING', 'Capturing'), ('VOIDING', 'Voiding'), ('VOIDED', 'Voided'), ('EXPIRED', 'Expired')], default='PROCESSING', max_length=12),
        ),
        migrations.AlterField(
            model_name='paymentconfirmation',
            name='status_after',
            field=models.CharField(choices=[('CREATED', 'Created'), ('PENDING_PAYMENT', 'Pending payment'), ('AUTHORIZED', 'Authorized'), ('PAID', 'Paid'), ('FAILED', 'Failed'), ('CANCELED', 'Canceled'), ('PARTIALLY_REFUNDED', 'Partially refunded'), ('REFUNDED', 'Refunded')], max_length=20),
        ),
        migrations.AlterField(
            model_name='paymentconfirmation',
            name='status_before',
            field=models.CharField(choices=[('CREATED', 'Created'), ('PENDING_PAYMENT', 'Pending payment'), ('AUTHORIZED', 'Authorized'), ('PAID', 'Paid'), ('FAILED', 'Failed'), ('CANCELED', 'Canceled'), ('PARTIALLY_REFUNDED', 'Partially refunded'), ('REFUNDED', 'Refunded')], max_length=20),
        ),
        migrations.RunPython(paid_amounts_backfill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('paid_amount__gt', 0), ('paid_amount__lte', models.F('amount')), ('status__in', ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED'))), models.Q(models.Q(('status__in', ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')), _negated=True), ('paid_amount', 0)), _connector='OR'), name='payments_order_paid_within_amount'),
        ),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(('refunded_amount__gte', 0), ('refunded_amount__lte', models.F('paid_amount'))), name='payments_order_refunded_within_paid'),
        ),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['CREATED', 'PENDING_PAYMENT', 'AUTHORIZED', 'PAID', 'FAILED', 'CANCELED', 'PARTIALLY_REFUNDED', 'REFUNDED'])), name='payments_order_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['PROCESSING', 'SUCCEEDED', 'FAILED', 'PENDING', 'AUTHORIZED', 'CAPTURING', 'VOIDING', 'VOIDED', 'EXPIRED'])), name='payments_payment_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ('PROCESSING', 'PENDING', 'AUTHORIZED', 'CAPTURING', 'VOIDING'))), fields=('order',), name='payments_payment_one_in_flight'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('captured_amount__gt', 0), ('captured_amount__isnull', False), ('captured_amount__lte', models.F('amount')), ('status__in', ('CAPTURING', 'SUCCEEDED'))), models.Q(models.Q(('status__in', ('CAPTURING', 'SUCCEEDED')), _negated=True), ('captured_amount__isnull', True)), _connector='OR'), name='payments_payment_captured_within_amount'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['charge', 'authorization'])), name='payments_payment_kind_valid'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status__in', ('AUTHORIZED', 'CAPTURING', 'VOIDING', 'VOIDED', 'EXPIRED')), _negated=True), models.Q(('authorized_at__isnull', False), ('kind', 'authorization')), _connector='OR'), name='payments_payment_authorization_statuses'),
        ),
        migrations.AddConstraint(
            model_name='simulatedauthorization',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='payments_simauth_amount_positive'),
        ),
        migrations.AddConstraint(
            model_name='simulatedauthorization',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('captured_amount__isnull', True), ('closure', '')), models.Q(('captured_amount__isnull', True), ('closure', 'voided'), ('outcome', 'authorized')), models.Q(('captured_amount__gt', 0), ('captured_amount__isnull', False), ('captured_amount__lte', models.F('amount')), ('closure', 'captured'), ('outcome', 'authorized')), _connector='OR'), name='payments_simauth_closed_within_amount'),
        ),
    ]
