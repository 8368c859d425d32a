"""The dashboard's two actions, validated like any Django form."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from ...exceptions import InvalidClientId
from ...protocol.names import CLIENT_ID_LENGTH, validate_client_id


class SendForm(forms.Form):
    """A test message to a uid or a group."""

    target = forms.ChoiceField(choices=[("uid", "uid"), ("group", "group")])
    name = forms.CharField(max_length=1024)
    message = forms.CharField(max_length=4096, initial="test message from the pushapp dashboard")


class DisconnectForm(forms.Form):
    client_id = forms.CharField(max_length=CLIENT_ID_LENGTH)

    def clean_client_id(self) -> str:
        try:
            return validate_client_id(self.cleaned_data["client_id"])
        except InvalidClientId as err:
            raise ValidationError("This is not a pushapp client id.", code="bad_client_id") from err
