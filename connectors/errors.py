"""Errors every connector raises the same way, so the app handles all platforms alike."""


class UnknownTopic(Exception):
    """The delivery's topic is not one Nudge handles (recorded and acknowledged)."""


class MalformedPayload(Exception):
    """The payload does not have the shape its topic promises."""
