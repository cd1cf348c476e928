"""Re-export: the in-memory Microsoft 365 account lives in connections/sandbox/store.py."""

from connections.sandbox.store import ChannelMessage, DriveItem, GraphStore, Message, quick_xor_hash

__all__ = ["ChannelMessage", "DriveItem", "GraphStore", "Message", "quick_xor_hash"]
