"""Helpers shared by tests/ and bench/: people, paid orders and throwaway servers, made the way
the services make them. Nothing here is imported by the application."""
