"""Shared test harness: a test CA, a mock of the cloud identity endpoints and a
throwaway PostgreSQL. Stdlib only, so every language's suite can drive it."""
