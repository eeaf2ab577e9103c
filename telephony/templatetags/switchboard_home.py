"""`{% switchboard_home as home %}`: what the admin's home page shows (admin/home.py)."""

from django import template

from telephony.admin import home as admin_home

register = template.Library()


@register.simple_tag(takes_context=True)
def switchboard_home(context):
    return admin_home.home(context["request"])
