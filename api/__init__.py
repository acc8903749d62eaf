"""The tenant API: the customer's own app manages its company through Gatehouse (docs/api.md)."""
