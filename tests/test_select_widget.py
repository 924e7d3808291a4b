"""The portal's select, written in Python: Django's HTML, the empty choice in words, the chosen one selected, every
label and value escaped, groups kept."""

from __future__ import annotations

import re

from django import forms
from django.forms.renderers import DjangoTemplates

COLOURS = [("", "---------"), ("red", "Red <b>"), ("blue", "Blue")]


class Picker(forms.Form):
    required = forms.ChoiceField(choices=COLOURS)
    optional = forms.ChoiceField(choices=COLOURS, required=False)
    grouped = forms.ChoiceField(choices=[("Warm", [("red", "Red")]), ("Cold", [("blue", "Blue"), ('"x"', "X")])])


def test_a_select_reads_in_words_marks_the_chosen_option_and_escapes_everything() -> None:
    form = Picker(initial={"required": "blue", "grouped": '"x"'})

    required, optional, grouped = str(form["required"]), str(form["optional"]), str(form["grouped"])

    assert '<option value="">Choose one</option>' in required
    assert '<option value="" selected>None</option>' in optional
    assert "---------" not in required + optional
    assert '<option value="blue" selected>Blue</option>' in required
    assert '<option value="red">Red &lt;b&gt;</option>' in required
    assert '<optgroup label="Cold">' in grouped
    assert '<option value="&quot;x&quot;" selected>X</option>' in grouped
    assert grouped.index('label="Warm"') < grouped.index('value="red"') < grouped.index('label="Cold"')


class Everything(forms.Form):
    required = forms.ChoiceField(choices=COLOURS)
    optional = forms.ChoiceField(choices=COLOURS, required=False, widget=forms.Select(attrs={"class": "form-select"}))
    grouped = forms.ChoiceField(choices=[("Warm", [("red", "Red")]), ("Cold & wet", [("blue", "Blue"), ('"x"', "X")])])
    several = forms.MultipleChoiceField(choices=COLOURS[1:], required=False)
    yes_no = forms.NullBooleanField(required=False)
    disabled = forms.ChoiceField(choices=COLOURS, disabled=True, required=False)
    numbers = forms.TypedChoiceField(choices=[(1, "One"), (2, "Two")], coerce=int, required=False)


def test_a_select_is_written_exactly_as_djangos_own_template_writes_it_but_for_the_empty_choices_words() -> None:
    """The portal writes selects in Python (fast with hundreds of options): the same HTML as Django's templates."""
    data = {"required": "red", "grouped": '"x"', "several": ["red", "blue"], "yes_no": "true", "numbers": "2"}
    for form in (Everything(), Everything(data), Everything(initial={"optional": "blue", "several": ["blue"]})):
        stock = Everything(form.data or None, initial=form.initial, renderer=DjangoTemplates())
        for name in form.fields:
            ours, djangos = str(form[name]), str(stock[name])
            if name in {"required", "optional", "disabled"}:
                words = "Choose one" if form.fields[name].required else "None"
                djangos = djangos.replace("---------", words)
            assert between_tags(ours) == between_tags(djangos), name


def between_tags(html: str) -> str:
    """HTML without the white space between its tags (Django's templates leave a blank line after each option)."""
    return re.sub(r">\s+<", "><", html)
