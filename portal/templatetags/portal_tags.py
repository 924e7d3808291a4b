from django import template

register = template.Library()

TONE_BY_STATUS = {
    "active": "success",
    "ready": "success",
    "online": "success",
    "planned": "secondary",
    "provisioning": "info",
    "degraded": "warning",
    "offline": "warning",
    "unreachable": "danger",
    "retired": "dark",
}


@register.filter
def status_tone(status: str) -> str:
    """The Bootstrap colour of a status badge."""
    return TONE_BY_STATUS.get(str(status), "secondary")
