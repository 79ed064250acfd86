"""The deployment tests (a package, so that its conftest and helpers never
shadow those of tests/e2e when both run in one pytest session)."""
