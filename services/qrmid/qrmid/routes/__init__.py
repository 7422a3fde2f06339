"""qrmid's API routers; each declares who may call it through the dependencies of auth.py."""
