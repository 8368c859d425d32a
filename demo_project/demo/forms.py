from django import forms

from .models import Note


class NoteForm(forms.ModelForm):
    class Meta:
        model = Note
        fields = ["text"]


class RoomMessageForm(forms.Form):
    text = forms.CharField(max_length=500)
