"""The admin names every model in correct English ("Webhook deliveries", not "Webhook deliverys")."""

import re

from django.contrib import admin


def test_admin_model_names_have_correct_plurals():
    wrong = {
        model.__name__: str(model._meta.verbose_name_plural)
        for model in admin.site._registry
        # consonant + "ys" (deliverys), or "audios"/"datas"-style plurals of uncountable nouns
        if re.search(r"[^aeiou]ys$|\b(?:audios|datas|informations)$", str(model._meta.verbose_name_plural))
    }
    assert wrong == {}


def test_the_webhook_delivery_admin_reads_webhook_deliveries(admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert "Webhook deliveries" in page
    assert "deliverys" not in page
