from panther.middlewares.base import HTTPMiddleware, WebsocketMiddleware
from panther.middlewares.cors import CORSMiddleware
from panther.middlewares.monitoring import MonitoringMiddleware, WebsocketMonitoringMiddleware

__all__ = [
    'CORSMiddleware',
    'HTTPMiddleware',
    'MonitoringMiddleware',
    'WebsocketMiddleware',
    'WebsocketMonitoringMiddleware',
]
