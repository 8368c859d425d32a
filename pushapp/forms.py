"""Validation of what a page posts to act on its own connection: its client id and the welcome's proof."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .exceptions import InvalidClientId
from .protocol.names import CLIENT_ID_LENGTH, validate_client_id
from .tokens import verify_client_proof


class ConnectionProofForm(forms.Form):
    """A page's claim to own a connection.

    Only the connection itself received the proof, in its welcome frame, so a valid pair stops one user
    from binding, or joining to a group, a connection of someone else whose client id they learned.
    """

    client_id = forms.CharField(max_length=CLIENT_ID_LENGTH, strip=False)
    proof = forms.CharField(max_length=200, strip=False)

    def clean_client_id(self) -> str:
        try:
            return validate_client_id(self.cleaned_data["client_id"])
        except InvalidClientId as err:
            raise ValidationError("This is not a pushapp client id.", code="bad_client_id") from err

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        client_id, proof = cleaned.get("client_id"), cleaned.get("proof")
        if client_id and proof and not verify_client_proof(client_id, proof):
            raise ValidationError("The proof does not match the client id.", code="bad_proof")
        return cleaned
