"""The directory job's web.AppKeys: the store lookups read, and the live cache behind it."""

from __future__ import annotations

from aiohttp import web

from bridge.directory.store.live import DirectoryCache
from bridge.directory.store.protocol import DirectoryStore
from bridge.directory.whole import WholeAnswers

# What POST /directory reads from: the cache in front of PostgreSQL (set once, at start-up).
DIRECTORY_STORE: web.AppKey[DirectoryStore] = web.AppKey("directory_store")
# The running directory cache, its change listener and status() (for /readyz).
DIRECTORY_CACHE: web.AppKey[DirectoryCache] = web.AppKey("directory_cache", DirectoryCache)
# The endpoint's whole-directory answers (whole.py), told by the cache's change listener
# when they may be reused.
WHOLE_ANSWERS: web.AppKey[WholeAnswers] = web.AppKey("whole_answers", WholeAnswers)
