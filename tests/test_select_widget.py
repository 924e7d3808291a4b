"""The portal's select: options written in place, the empty choice in words, the chosen one selected, every
label and value escaped, groups kept."""

from __future__ import annotations

from django import forms

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
