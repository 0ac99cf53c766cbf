"""The operator console: server-rendered pages under ``/console`` (Jinja2, no build step, nothing fetched
from the internet), logged in with an operator account, on the same reads and actions as the JSON API."""
