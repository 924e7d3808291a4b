from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from access.models import User
from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region


class CloudAccountForm(forms.ModelForm[CloudAccount]):
    """The account form with a write-only client secret: it can be set, replaced or removed, never read."""

    new_client_secret = forms.CharField(
        label="Azure client secret: set / replace",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current one.",
    )
    remove_client_secret = forms.BooleanField(label="Remove the stored client secret", required=False)

    class Meta:
        model = CloudAccount
        fields = [
            "name", "provider", "external_id", "tenant_id", "auth_method", "role_arn", "role_external_id",
            "client_id", "secret_reference", "description",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        state = "A client secret is stored." if self.instance.has_client_secret else "No client secret is stored."
        self.fields["new_client_secret"].help_text = f"{state} {self.fields['new_client_secret'].help_text}"
        self.had_client_secret = self.instance.has_client_secret

    def clean(self) -> dict[str, Any]:
        """Put the new secret on the instance before the model validates it (``clean()`` checks the method)."""
        cleaned = super().clean() or {}
        new_secret = cleaned.get("new_client_secret") or ""
        if new_secret and cleaned.get("remove_client_secret"):
            raise forms.ValidationError("Either replace the client secret or remove it, not both.")
        if new_secret:
            self.instance.client_secret = new_secret
        elif cleaned.get("remove_client_secret"):
            self.instance.client_secret = ""
        return cleaned

    @property
    def client_secret_changed(self) -> bool:
        """Whether this submission sets, replaces or removes the secret."""
        return bool(self.cleaned_data.get("new_client_secret")) or (
            bool(self.cleaned_data.get("remove_client_secret")) and self.had_client_secret
        )


@admin.register(CloudAccount)
class CloudAccountAdmin(admin.ModelAdmin[CloudAccount]):
    form = CloudAccountForm
    list_display = ["name", "provider", "external_id", "auth_method", "has_client_secret"]
    list_filter = ["provider", "auth_method"]
    search_fields = ["name", "external_id"]

    @admin.display(boolean=True, description="client secret stored")
    def has_client_secret(self, account: CloudAccount) -> bool:
        return account.has_client_secret

    def save_model(self, request: HttpRequest, obj: CloudAccount, form: Any, change: bool) -> None:
        """Save, and audit a set, replaced or removed client secret (never its value)."""
        super().save_model(request, obj, form, change)
        if isinstance(form, CloudAccountForm) and form.client_secret_changed:
            actor = request.user if isinstance(request.user, User) else None
            obj.record_client_secret_change(had_secret=form.had_client_secret, actor=actor)


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin[Region]):
    list_display = ["code", "display_name", "provider", "residency_zone", "status", "dr_partner"]
    list_filter = ["provider", "residency_zone", "status"]
    list_select_related = ["dr_partner"]
    search_fields = ["code", "display_name"]


class NodePoolInline(admin.TabularInline[NodePool, Cluster]):
    model = NodePool
    extra = 0


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value, not even the one just submitted (a secret stays off the page)."""

    def format_value(self, value: Any) -> str | None:
        return None


class ClusterForm(forms.ModelForm[Cluster]):
    """The cluster form with a write-only kubeconfig: it can be set, replaced or removed, never read."""

    new_kubeconfig = forms.CharField(
        label="Kubeconfig: set / replace",
        required=False,
        strip=True,
        widget=WriteOnlyTextarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current one.",
    )
    remove_kubeconfig = forms.BooleanField(label="Remove the stored kubeconfig", required=False)

    class Meta:
        model = Cluster
        fields = ["region", "name", "kind", "kubernetes_version", "api_endpoint", "status", "access"]
        # API servers speak HTTPS; Django 6 assumes it for a URL typed without a scheme, 5.2 warns unless told.
        field_classes = {"api_endpoint": partial(forms.URLField, assume_scheme="https")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        state = "A kubeconfig is stored." if self.instance.has_kubeconfig else "No kubeconfig is stored."
        self.fields["new_kubeconfig"].help_text = f"{state} {self.fields['new_kubeconfig'].help_text}"
        self.had_kubeconfig = self.instance.has_kubeconfig

    def clean(self) -> dict[str, Any]:
        """Put the new kubeconfig on the instance before the model validates it (``clean()`` parses it)."""
        cleaned = super().clean() or {}
        new_kubeconfig = cleaned.get("new_kubeconfig") or ""
        if new_kubeconfig and cleaned.get("remove_kubeconfig"):
            raise forms.ValidationError("Either replace the kubeconfig or remove it, not both.")
        if new_kubeconfig:
            self.instance.kubeconfig = new_kubeconfig
        elif cleaned.get("remove_kubeconfig"):
            self.instance.kubeconfig = ""
        return cleaned

    def add_error(self, field: str | None, error: Any) -> None:
        """Show the model's errors about the (non-editable) ``kubeconfig`` next to the input that sets it."""
        if field is None and isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            moved = {
                "new_kubeconfig" if name == "kubeconfig" else name: errors for name, errors in error.error_dict.items()
            }
            error = ValidationError(moved)
        super().add_error(field, error)

    @property
    def kubeconfig_changed(self) -> bool:
        """Whether this submission sets, replaces or removes the kubeconfig."""
        return bool(self.cleaned_data.get("new_kubeconfig")) or (
            bool(self.cleaned_data.get("remove_kubeconfig")) and self.had_kubeconfig
        )


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin[Cluster]):
    form = ClusterForm
    list_display = ["name", "region", "kind", "kubernetes_version", "status", "access", "has_kubeconfig"]
    list_filter = ["kind", "status", "access", "region__residency_zone"]
    list_select_related = ["region"]
    inlines = [NodePoolInline]

    @admin.display(boolean=True, description="kubeconfig stored")
    def has_kubeconfig(self, cluster: Cluster) -> bool:
        return cluster.has_kubeconfig

    def save_model(self, request: HttpRequest, obj: Cluster, form: Any, change: bool) -> None:
        """Save, and audit a set, replaced or removed kubeconfig (never its content)."""
        super().save_model(request, obj, form, change)
        if isinstance(form, ClusterForm) and form.kubeconfig_changed:
            actor = request.user if isinstance(request.user, User) else None
            obj.record_kubeconfig_change(had_kubeconfig=form.had_kubeconfig, actor=actor)


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin[Namespace]):
    list_display = ["name", "cluster", "team"]
    list_filter = ["name"]
    list_select_related = ["cluster", "team"]


@admin.register(CentreServer)
class CentreServerAdmin(admin.ModelAdmin[CentreServer]):
    list_display = ["name", "site", "region", "status", "last_sync_at"]
    list_filter = ["status"]
    list_select_related = ["region"]
