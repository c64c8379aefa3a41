"""The root page: what this service is and where to go next, for whoever opens it in a browser first."""

from panther.app import API
from panther.request import Request
from panther.response import TemplateResponse

HOME = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Notes service</title>
  <link rel="icon" href="data:,">
  <style>body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }</style>
</head>
<body>
  <h1>Notes service</h1>
  <p>A JSON API for personal notes, built with Panther: sign up, log in, then create, list, search and edit your
  notes with the access token. New notes are pushed to your open WebSocket connections.</p>
  <h2>API documentation</h2>
  <ul>
    <li><a href="/docs/scalar/">Scalar</a></li>
    <li><a href="/docs/swagger/">Swagger UI</a></li>
    <li><a href="/docs/redoc/">ReDoc</a></li>
    <li><a href="/docs/rapidoc/">RapiDoc</a></li>
    <li><a href="/docs/spotlight/">Stoplight Elements</a></li>
    <li><a href="/docs/openapi.json">openapi.json</a> (OpenAPI 3.1)</li>
  </ul>
  <h2>Service</h2>
  <ul>
    <li><a href="/health/">/health/</a>: database and Redis status</li>
    <li><a href="/stats/">/stats/</a>: users and notes (cached for 30 seconds)</li>
    <li><code>ws://{{ host }}/ws/notes/?authorization=&lt;access token&gt;</code>: live feed of your new notes</li>
  </ul>
</body>
</html>"""


@API(methods=['GET'])
async def home(request: Request) -> TemplateResponse:
    """This page: what the service is, links to the API documentation, health and the WebSocket feed."""
    return TemplateResponse(source=HOME, context={'host': request.headers.get('host') or '127.0.0.1:8000'})
