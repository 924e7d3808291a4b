"""Budgets and anomalies: what a team may spend, alerts when it passes, and spend out of the ordinary."""
