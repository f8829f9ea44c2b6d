"""The licences offered for a picture from outside the studio (an upload, a reference picture); any other may be typed."""

LICENCES = (
    "unknown",
    "my own work",
    "public domain / CC0",
    "CC BY",
    "CC BY-SA",
    "licensed for this use",
    "not licensed",
)
