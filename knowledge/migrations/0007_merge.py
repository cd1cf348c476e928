# Joins three migrations made side by side: PII neutralisation settings, virtual documents
# and monthly embedding budgets. No operations of its own.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0006_budgets"),
        ("knowledge", "0006_neutralisation"),
        ("knowledge", "0006_virtual_documents"),
    ]

    operations = []
