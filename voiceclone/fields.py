"""Serializer fields shared by the API's multipart endpoints."""

from rest_framework import serializers


class OneFileField(serializers.FileField):
    """A file field that refuses the field repeated. DRF's FileField keeps the last of repeated parts and
    drops the others without a word; a request with two recordings (or two kits) where one is expected
    answers 400 naming the field instead, so nothing the client sent is silently ignored."""

    default_error_messages = {"repeated": "Send one file in this field, not {count}."}

    def get_value(self, dictionary):
        if hasattr(dictionary, "getlist"):
            values = dictionary.getlist(self.field_name)
            if len(values) > 1:
                return _Repeated(len(values))
        return super().get_value(dictionary)

    def to_internal_value(self, data):
        if isinstance(data, _Repeated):
            self.fail("repeated", count=data.count)
        return super().to_internal_value(data)


class _Repeated:
    def __init__(self, count: int):
        self.count = count
