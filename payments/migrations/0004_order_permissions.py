"""The dashboard's actions on orders, declared on `Order`: refund, resolve a pending payment.

They were `operators.refund_order` and `operators.resolve_pending` (on an unmanaged model);
`operators` migration 0004 moves every group's and user's grant to these.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0003_refused_webhook_bodies_bounded'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='order',
            options={'permissions': [('refund_order', 'Can refund paid orders'), ('resolve_pending', 'Can mark pending payments paid or failed')]},
        ),
    ]
