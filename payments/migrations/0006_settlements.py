"""Settlement reconciliation: runs, their lines and breaks; the simulator's fees.

`SettlementRun` is unique by the file's SHA-256; a `SettlementLine` settles a payment or a refund
at most once (partial UNIQUE on a matched line); a `SettlementBreak` is resolved with a note, by
someone, at a time (CHECK). The simulated provider's charges and authorizations gain their fee
(0 for what was recorded before fees existed), and the columns a day's report and a settlement
file are looked up by gain indexes.
"""

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0014_transaction_reversal'),
        ('payments', '0005_authorize_and_capture'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='SettlementBreak',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('kind', models.CharField(choices=[('missing_in_ledger', 'Missing in ledger'), ('missing_at_provider', 'Missing at provider'), ('amount_mismatch', 'Amount mismatch'), ('currency_mismatch', 'Currency mismatch'), ('duplicate', 'Duplicate')], max_length=20)),
                ('provider_reference', models.CharField(blank=True, default='', max_length=100)),
                ('amount', models.BigIntegerField()),
                ('currency', models.CharField(max_length=12)),
                ('ledger_amount', models.BigIntegerField(blank=True, null=True)),
                ('ledger_currency', models.CharField(blank=True, default='', max_length=12)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('resolved_at', models.DateTimeField(blank=True, null=True)),
                ('note', models.CharField(blank=True, default='', max_length=500)),
            ],
        ),
        migrations.CreateModel(
            name='SettlementLine',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('line_number', models.PositiveIntegerField(help_text='Its line in the file (the header is line 1).')),
                ('provider_reference', models.CharField(max_length=100)),
                ('type', models.CharField(choices=[('charge', 'Charge'), ('refund', 'Refund')], max_length=6)),
                ('amount', models.BigIntegerField()),
                ('currency', models.CharField(max_length=12)),
                ('fee', models.BigIntegerField()),
                ('settled_at', models.DateTimeField()),
                ('status', models.CharField(choices=[('matched', 'Matched'), ('missing_in_ledger', 'Missing in ledger'), ('amount_mismatch', 'Amount mismatch'), ('currency_mismatch', 'Currency mismatch'), ('duplicate', 'Duplicate')], max_length=20)),
            ],
        ),
        migrations.CreateModel(
            name='SettlementRun',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('created_by', models.CharField(help_text="Who imported it: an operator, or the command's user.", max_length=150)),
                ('file_name', models.CharField(max_length=255)),
                ('file_sha256', models.CharField(max_length=64, unique=True)),
                ('lines', models.PositiveIntegerField()),
                ('matched', models.PositiveIntegerField()),
                ('fees', models.JSONField(blank=True, default=dict)),
                ('covered_from', models.DateField(blank=True, help_text="The first UTC day of the file's settled_at.", null=True)),
                ('covered_to', models.DateField(blank=True, help_text="The last UTC day of the file's settled_at.", null=True)),
            ],
            options={
                'permissions': [('import_settlement', 'Can import settlement files'), ('resolve_settlement_break', 'Can resolve settlement breaks')],
            },
        ),
        migrations.AddField(
            model_name='simulatedauthorization',
            name='fee',
            field=models.BigIntegerField(default=0, help_text="The provider's fee on the capture, in minor units."),
        ),
        migrations.AddField(
            model_name='simulatedcharge',
            name='fee',
            field=models.BigIntegerField(default=0, help_text="The provider's fee on a succeeded charge, in minor units."),
        ),
        migrations.AddIndex(
            model_name='payment',
            index=models.Index(fields=['provider_reference'], name='payments_payment_provider_ref'),
        ),
        migrations.AddIndex(
            model_name='refund',
            index=models.Index(fields=['provider_reference'], name='payments_refund_provider_ref'),
        ),
        migrations.AddIndex(
            model_name='simulatedauthorization',
            index=models.Index(fields=['closed_at'], name='payments_simauth_closed'),
        ),
        migrations.AddIndex(
            model_name='simulatedcharge',
            index=models.Index(fields=['created_at'], name='payments_simcharge_created'),
        ),
        migrations.AddIndex(
            model_name='simulatedrefund',
            index=models.Index(fields=['created_at'], name='payments_simrefund_created'),
        ),
        migrations.AddConstraint(
            model_name='simulatedauthorization',
            constraint=models.CheckConstraint(condition=models.Q(('fee__gte', 0)), name='payments_simauth_fee_not_negative'),
        ),
        migrations.AddConstraint(
            model_name='simulatedcharge',
            constraint=models.CheckConstraint(condition=models.Q(('fee__gte', 0)), name='payments_simcharge_fee_not_negative'),
        ),
        migrations.AddField(
            model_name='settlementbreak',
            name='payment',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='settlement_breaks', to='payments.payment'),
        ),
        migrations.AddField(
            model_name='settlementbreak',
            name='refund',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='settlement_breaks', to='payments.refund'),
        ),
        migrations.AddField(
            model_name='settlementbreak',
            name='resolved_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='settlementline',
            name='payment',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='settlement_lines', to='payments.payment'),
        ),
        migrations.AddField(
            model_name='settlementline',
            name='refund',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='settlement_lines', to='payments.refund'),
        ),
        migrations.AddField(
            model_name='settlementbreak',
            name='line',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='settlement_break', to='payments.settlementline'),
        ),
        migrations.AddField(
            model_name='settlementrun',
            name='fee_transaction',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='settlement_run', to='ledger.transaction'),
        ),
        migrations.AddField(
            model_name='settlementline',
            name='run',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='file_lines', to='payments.settlementrun'),
        ),
        migrations.AddField(
            model_name='settlementbreak',
            name='run',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='breaks', to='payments.settlementrun'),
        ),
        migrations.AddIndex(
            model_name='settlementrun',
            index=models.Index(fields=['-created_at', '-id'], name='payments_settlement_recent'),
        ),
        migrations.AddConstraint(
            model_name='settlementrun',
            constraint=models.CheckConstraint(condition=models.Q(('matched__lte', models.F('lines'))), name='payments_settlement_matched_within'),
        ),
        migrations.AddConstraint(
            model_name='settlementline',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0), ('fee__gte', 0)), name='payments_settleline_amounts'),
        ),
        migrations.AddConstraint(
            model_name='settlementline',
            constraint=models.CheckConstraint(condition=models.Q(('type__in', ['charge', 'refund'])), name='payments_settleline_type'),
        ),
        migrations.AddConstraint(
            model_name='settlementline',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['matched', 'missing_in_ledger', 'amount_mismatch', 'currency_mismatch', 'duplicate'])), name='payments_settleline_status'),
        ),
        migrations.AddConstraint(
            model_name='settlementline',
            constraint=models.UniqueConstraint(fields=('run', 'line_number'), name='payments_settleline_number_unique'),
        ),
        migrations.AddConstraint(
            model_name='settlementline',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'matched')), fields=('payment',), name='payments_settleline_payment_once'),
        ),
        migrations.AddConstraint(
            model_name='settlementline',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'matched')), fields=('refund',), name='payments_settleline_refund_once'),
        ),
        migrations.AddIndex(
            model_name='settlementbreak',
            index=models.Index(fields=['run', 'kind'], name='payments_settlebreak_run_kind'),
        ),
        migrations.AddIndex(
            model_name='settlementbreak',
            index=models.Index(condition=models.Q(('resolved_at__isnull', True)), fields=['kind'], name='payments_settlebreak_open'),
        ),
        migrations.AddConstraint(
            model_name='settlementbreak',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['missing_in_ledger', 'missing_at_provider', 'amount_mismatch', 'currency_mismatch', 'duplicate'])), name='payments_settlebreak_kind'),
        ),
        migrations.AddConstraint(
            model_name='settlementbreak',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('note', ''), ('resolved_at__isnull', True), ('resolved_by__isnull', True)), models.Q(('resolved_at__isnull', False), ('resolved_by__isnull', False), models.Q(('note', ''), _negated=True)), _connector='OR'), name='payments_settlebreak_resolved_with_note'),
        ),
    ]
