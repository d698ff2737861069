"""The embedded reference agent: a real local server speaking the Robofy chat stream API."""
