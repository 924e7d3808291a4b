from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("idp", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Behaviour",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "id_token",
                    models.CharField(
                        choices=[
                            ("signed", "signed with the key its JWKS publishes"),
                            ("unsigned", "alg none, no signature"),
                            ("stranger-key", "signed with a key not in its JWKS, under the kid of its own key"),
                            ("stranger-kid", "signed with a key not in its JWKS, under that key's own kid"),
                        ],
                        default="signed",
                        max_length=20,
                    ),
                ),
                (
                    "iss_parameter",
                    models.CharField(
                        choices=[("issuer", "its issuer (RFC 9207)"), ("absent", "none"), ("other", "another issuer's")],
                        default="issuer",
                        max_length=20,
                    ),
                ),
                ("advertises_iss_parameter", models.BooleanField(default=True)),
            ],
        ),
    ]
