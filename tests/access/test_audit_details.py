"""An audit event's before, after and extra as a page shows them: in words, escaped and bounded."""

from __future__ import annotations

import re
from typing import Any

import pytest

from access.audit.selectors import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_TEXT,
    MAX_VALUES,
    audit_event_changes,
    audit_event_details,
    audit_event_extra,
    field_label,
    model_field,
    model_of,
    value_html,
)
from access.models import ApiToken, AuditEvent, Grant
from costs.models import PriceItem
from environments.models import EnvironmentTemplate
from regions.models import Region

TEMPLATE = "environments.environmenttemplate"
EM_DASH = '<span class="text-body-secondary">—</span>'


def event(object_type: str = "", before: Any = None, after: Any = None, extra: Any = None) -> AuditEvent:
    return AuditEvent(object_type=object_type, before=before, after=after, extra=extra if extra is not None else {})


def text_of(html: str) -> str:
    """The words a person reads: the markup dropped (entities stay, so escaping is still visible)."""
    return re.sub(r"<[^>]+>", " ", html)


def rows(changes: list[Any]) -> list[tuple[str, tuple[str, ...], str, str, bool]]:
    return [(change.label, change.path, str(change.before), str(change.after), change.changed) for change in changes]


# --- field names -----------------------------------------------------------------------------


def test_a_field_of_the_events_model_reads_as_its_verbose_name_capitalised() -> None:
    assert field_label("quota_requests_cpu", EnvironmentTemplate) == "CPU requests"
    assert field_label("max_ttl_hours", EnvironmentTemplate) == "Maximum lifetime (hours)"
    assert field_label("ingress_allow_cidrs", EnvironmentTemplate) == "Allowed source ranges (CIDR)"
    assert field_label("expires_at", Grant) == "Expires at"


def test_a_foreign_key_named_by_its_id_reads_as_the_foreign_key() -> None:
    assert field_label("dr_partner_id", Region) == "DR partner"
    assert field_label("dr_partner", Region) == "DR partner"
    assert model_field(Region, "dr_partner_id") is Region._meta.get_field("dr_partner")


def test_a_verbose_name_django_made_from_the_field_name_writes_abbreviations_as_words_are_written() -> None:
    assert field_label("last_used_ip", ApiToken) == "Last used IP"
    assert field_label("ingress_rate_limit_rps", EnvironmentTemplate) == "Rate limit (requests per second)"


def test_a_key_no_model_knows_reads_as_words_with_known_abbreviations() -> None:
    assert field_label("ttl_hours") == "TTL hours"
    assert field_label("dr_partner_id") == "DR partner ID"
    assert field_label("required_approvals") == "Required approvals"
    assert field_label("size_gib") == "Size GiB"
    assert field_label("callback_url", Region) == "Callback URL"
    assert field_label("cpu") == "CPU"


def test_a_key_that_is_not_a_name_stays_as_it_was_recorded() -> None:
    assert field_label("requests.cpu") == "requests.cpu"
    assert field_label("X-Trace") == "X-Trace"


def test_the_model_is_found_from_the_object_type_the_log_stores() -> None:
    assert model_of(TEMPLATE) is EnvironmentTemplate
    assert model_of("regions.region") is Region
    assert model_of("") is None
    assert model_of("nowhere.nothing") is None
    assert model_of("regions.zoneoverride.extra") is None


# --- values ---------------------------------------------------------------------------------


def test_booleans_read_as_yes_and_no() -> None:
    assert value_html(True) == "Yes"
    assert value_html(False) == "No"


@pytest.mark.parametrize("nothing", [None, "", [], {}])
def test_nothing_reads_as_an_em_dash(nothing: Any) -> None:
    assert value_html(nothing) == EM_DASH


def test_numbers_and_text_read_as_they_are() -> None:
    assert value_html(16) == "16"
    assert value_html(2.5) == "2.5"
    assert value_html("16Gi") == "16Gi"


def test_a_list_of_plain_values_reads_as_a_comma_separated_list() -> None:
    assert value_html(["a", "b", True, None]) == f"a, b, Yes, {EM_DASH}"


def test_a_list_of_dicts_reads_as_a_list_of_small_definition_lists() -> None:
    html = str(value_html([{"name": "web"}, {"name": "worker"}]))

    assert html.startswith('<ul class="audit-list"><li><dl class="audit-dict"><dt>name</dt><dd>web</dd></dl></li>')
    assert html.count("<li>") == 2


def test_a_dict_reads_as_a_nested_definition_list_of_keys_and_values() -> None:
    html = str(value_html({"requests.cpu": "16", "limits": {"memory": "16Gi", "burst": False}}))

    assert html == (
        '<dl class="audit-dict"><dt>requests.cpu</dt><dd>16</dd>'
        '<dt>limits</dt><dd><dl class="audit-dict"><dt>memory</dt><dd>16Gi</dd><dt>burst</dt><dd>No</dd></dl></dd></dl>'
    )


def test_a_model_as_the_log_records_it_reads_as_its_name() -> None:
    assert value_html({"id": 3, "repr": "Tutor Tools"}) == "Tutor Tools"
    assert value_html({"id": 3, "repr": ""}) == "#3"


def test_a_choice_reads_as_its_label_for_a_field_and_for_the_items_of_an_array_field() -> None:
    tier = EnvironmentTemplate._meta.get_field("tier")
    providers = EnvironmentTemplate._meta.get_field("allowed_providers")

    assert value_html("production", tier) == "Production"
    assert value_html("not-a-tier", tier) == "not-a-tier"
    assert value_html(["aws", "on_prem"], providers) == "AWS, On-prem"


def test_a_moment_reads_as_the_pages_read_dates_in_the_portals_time_zone(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Dublin"
    expires = Grant._meta.get_field("expires_at")

    assert value_html("2026-07-07T14:31:05+00:00", expires) == "7 Jul 2026 15:31:05 IST"
    assert value_html("2026-12-07T15:31:05Z") == "7 Dec 2026 15:31:05 GMT"  # a moment the log recorded anywhere
    assert value_html("next tuesday", expires) == "next tuesday"


def test_a_date_reads_as_a_date() -> None:
    assert value_html("2026-12-07", PriceItem._meta.get_field("effective_from")) == "7 Dec 2026"


# --- bounds ---------------------------------------------------------------------------------


def test_a_long_list_shows_its_first_items_and_how_many_more() -> None:
    html = str(value_html(list(range(MAX_ITEMS + 70))))

    assert html.startswith("0, 1, 2")
    assert f", {MAX_ITEMS - 1} <span" in html
    assert f", {MAX_ITEMS}," not in html
    assert html.endswith('<span class="text-body-secondary audit-more">and 70 more</span>')


def test_a_dict_with_many_keys_shows_its_first_keys_and_how_many_more() -> None:
    html = str(value_html({f"key{number:03}": number for number in range(MAX_ITEMS + 10)}))

    assert html.count("<dt>") == MAX_ITEMS
    assert html.endswith('</dl><span class="text-body-secondary audit-more">and 10 more</span>')


def test_a_deeply_nested_value_is_shown_to_a_depth_then_named_by_its_size() -> None:
    value: Any = {"leaf": "deepest"}
    for level in range(MAX_DEPTH + 3):
        value = {f"level{level}": value}

    html = str(value_html(value))

    assert html.count('<dl class="audit-dict">') == MAX_DEPTH
    assert "deepest" not in html
    assert "1 key" in html


def test_a_long_text_shows_its_first_characters_and_how_many_more() -> None:
    html = str(value_html("x" * (MAX_TEXT + 1234)))

    assert html == "x" * MAX_TEXT + '… <span class="text-body-secondary audit-more">and 1,234 more characters</span>'


def test_a_wide_and_deep_value_shows_a_bounded_number_of_values() -> None:
    huge = [[f"cell{row}-{column}" for column in range(MAX_ITEMS)] for row in range(MAX_ITEMS)]

    html = str(value_html(huge))

    assert MAX_VALUES - 5 <= html.count("cell") <= MAX_VALUES
    assert "more" in html
    assert len(html) < 40 * MAX_VALUES


# --- escaping -------------------------------------------------------------------------------


def test_every_value_of_an_event_is_escaped_however_deep() -> None:
    script = "<script>alert(1)</script>"
    details = audit_event_details(
        event(
            before={"note": script, "quota": {"cpu": script}},
            after={"note": [script, {script: script}], "quota": {"cpu": "2"}},
            extra={"reason": {"nested": [script]}},
        )
    )

    html = [str(change.before) + str(change.after) for change in details.changes]
    html += [str(detail.value) for detail in details.extra]
    assert len(html) == 3
    for cell in html:
        assert "<script>" not in cell
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in cell


def test_a_value_is_never_marked_safe_unescaped() -> None:
    assert value_html("<b>bold</b> & co") == "&lt;b&gt;bold&lt;/b&gt; &amp; co"
    assert value_html({"<k>": "<v>"}) == '<dl class="audit-dict"><dt>&lt;k&gt;</dt><dd>&lt;v&gt;</dd></dl>'
    assert value_html(["<a>", "b"]) == "&lt;a&gt;, b"
    assert value_html({"id": 1, "repr": "<i>x</i>"}) == "&lt;i&gt;x&lt;/i&gt;"


# --- before and after -----------------------------------------------------------------------


def test_a_dict_that_changed_reads_as_one_row_per_changed_key() -> None:
    changes = audit_event_changes(
        event(
            before={"quota": {"requests.cpu": "8", "limits.memory": "16Gi", "pods": "20"}},
            after={"quota": {"requests.cpu": "16", "limits.memory": "16Gi", "gpus": "1"}},
        )
    )

    assert rows(changes) == [
        ("Quota", ("gpus",), EM_DASH, "1", True),
        ("Quota", ("pods",), "20", EM_DASH, True),
        ("Quota", ("requests.cpu",), "8", "16", True),
    ]
    assert {change.key for change in changes} == {"quota"}
    assert [(change.has_before, change.has_after) for change in changes] == [(False, True), (True, False), (True, True)]


def test_a_nested_dict_that_changed_is_followed_down_to_the_key_that_changed() -> None:
    changes = audit_event_changes(
        event(
            before={"settings": {"limits": {"cpu": "2", "memory": "4Gi"}, "name": "same"}},
            after={"settings": {"limits": {"cpu": "4", "memory": "4Gi"}, "name": "same"}},
        )
    )

    assert rows(changes) == [("Settings", ("limits", "cpu"), "2", "4", True)]


def test_a_dict_with_many_changed_keys_names_the_first_and_groups_the_rest_in_one_row() -> None:
    before = {f"key{number:03}": number for number in range(MAX_ITEMS + 3)}
    after = {key: value + 1 for key, value in before.items()}

    changes = audit_event_changes(event(before={"labels": before}, after={"labels": after}))

    assert len(changes) == MAX_ITEMS + 1
    assert changes[-1].path == ("3 more keys",)
    assert text_of(str(changes[-1].before)).split() == ["key050", "50", "key051", "51", "key052", "52"]


def test_a_dict_changed_wide_and_deep_reads_as_a_bounded_number_of_rows() -> None:
    before = {f"group{outer:02}": {f"key{inner:02}": inner for inner in range(MAX_ITEMS)} for outer in range(MAX_ITEMS)}
    after = {group: {key: value + 1 for key, value in keys.items()} for group, keys in before.items()}

    changes = audit_event_changes(event(before={"labels": before}, after={"labels": after}))

    assert len(changes) == MAX_ITEMS + 1  # the first group's keys, then one row for the other groups
    assert changes[MAX_ITEMS - 1].path == ("group00", "key49")
    assert changes[-1].path == (f"{MAX_ITEMS - 1} more keys",)
    assert str(changes[-1].before).count('<dl class="audit-dict">') <= MAX_VALUES


def test_a_dict_that_did_not_change_reads_as_one_row_not_highlighted() -> None:
    quota = {"requests.cpu": "8"}

    changes = audit_event_changes(event(before={"quota": quota, "name": "a"}, after={"quota": quota, "name": "b"}))

    assert [(change.label, change.path, change.changed) for change in changes] == [
        ("Name", (), True),
        ("Quota", (), False),
    ]


def test_a_dict_that_appeared_reads_whole_in_one_row() -> None:
    changes = audit_event_changes(event(before=None, after={"quota": {"requests.cpu": "8"}}))

    assert rows(changes) == [
        ("Quota", (), EM_DASH, '<dl class="audit-dict"><dt>requests.cpu</dt><dd>8</dd></dl>', True)
    ]


def test_fields_read_in_words_from_the_events_model_with_their_choices_in_order_of_their_labels() -> None:
    changes = audit_event_changes(
        event(
            TEMPLATE,
            before={"tier": "staging", "max_ttl_hours": 24, "network_default_deny": True, "team": None},
            after={
                "tier": "production",
                "max_ttl_hours": 72,
                "network_default_deny": True,
                "team": {"id": 1, "repr": "Tutor Tools"},
            },
        )
    )

    assert [(change.key, change.label) for change in changes] == [
        ("network_default_deny", "Default-deny network policy"),
        ("max_ttl_hours", "Maximum lifetime (hours)"),
        ("team", "Team"),
        ("tier", "Tier"),
    ]
    by_key = {change.key: change for change in changes}
    assert (by_key["tier"].before, by_key["tier"].after) == ("Staging", "Production")
    assert (by_key["network_default_deny"].before, by_key["network_default_deny"].changed) == ("Yes", False)
    assert (by_key["team"].before, by_key["team"].after) == (EM_DASH, "Tutor Tools")


def test_nothing_recorded_and_an_empty_value_are_no_change() -> None:
    changes = audit_event_changes(
        event(
            before={"quota": {"pods": None}, "zone": None},
            after={"quota": {"pods": "", "gpus": []}, "zone": "", "tiers": [], "note": "new"},
        )
    )

    assert [(change.label, change.changed) for change in changes] == [
        ("Note", True),
        ("Quota", False),
        ("Tiers", False),
        ("Zone", False),
    ]


def test_a_before_or_after_that_is_not_a_dict_is_still_shown() -> None:
    changes = audit_event_changes(event(before=["a"], after=None))

    assert rows(changes) == [("Value", (), "a", EM_DASH, True)]


# --- extra ----------------------------------------------------------------------------------


def test_the_extra_detail_reads_in_words_by_label() -> None:
    extra = audit_event_extra(
        event(
            "regions.zoneoverride",
            extra={"reason": "contract", "breaches": [], "filters": {"verb": "x"}, "confirmed": True, "zone": "EU"},
        )
    )

    assert [(detail.key, detail.label, str(detail.value)) for detail in extra] == [
        ("breaches", "Breaches", EM_DASH),
        ("confirmed", "Confirmed", "Yes"),
        ("filters", "Filters", '<dl class="audit-dict"><dt>verb</dt><dd>x</dd></dl>'),
        ("reason", "Reason", "contract"),
        ("zone", "Zone", "European Union"),
    ]


def test_an_event_without_detail_has_none_to_show() -> None:
    details = audit_event_details(event(before=None, after=None, extra={}))

    assert details.changes == []
    assert details.extra == []
