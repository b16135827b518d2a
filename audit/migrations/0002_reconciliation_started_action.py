# An operator starting a reconciliation from the dashboard is recorded too: one more action.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("refund.created", "Refund created"),
                    ("payment.resolved", "Pending payment resolved"),
                    ("api_key.created", "API key created"),
                    ("api_key.revoked", "API key revoked"),
                    ("reconciliation.started", "Reconciliation started"),
                ],
                max_length=32,
            ),
        ),
    ]
