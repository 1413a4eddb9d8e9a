"""The one way into the node: a TCP forward from the host's loopback to the apiserver inside the node.

Run inside the node's namespaces with a listening socket made in the host's network namespace (a socket
keeps the namespace it was made in), so the node needs no link, route or address on the host:

    python -m tests.e2e.cluster.forward FD HOST:PORT

TLS passes through untouched: clients verify the apiserver and present their certificates end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()


async def _serve(listener: socket.socket, host: str, port: int) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))
        for writer in (client_writer, upstream_writer):
            writer.close()

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    fd, target = int(argv[0]), argv[1]
    host, _, port = target.rpartition(":")
    listener = socket.socket(fileno=fd)
    asyncio.run(_serve(listener, host, int(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
