"""The engine's lower half: the catalog, definitions, conditions, templating, starting runs. Imports only models."""
