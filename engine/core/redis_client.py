"""The app's Redis client (REDIS_URL): one client and connection pool per app, kept as an app extension."""
from flask import Flask
from redis import Redis

EXTENSION_KEY = "workestra_redis"


def redis_connection(app: Flask) -> Redis:
    """One Redis client (and connection pool) per app: a new client per call would connect per event."""
    client = app.extensions.get(EXTENSION_KEY)
    if client is None:
        client = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
        app.extensions[EXTENSION_KEY] = client
    return client
