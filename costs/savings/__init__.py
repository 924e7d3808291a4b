"""Savings: recommendations of what could cost less, and acting on them."""
