"""Data residency across the inventory: zones, the placements that break them, and the zone corrections admins make."""
