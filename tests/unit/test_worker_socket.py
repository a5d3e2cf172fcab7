"""The API workers' shared listening socket gives its connections TCP_NODELAY.

uvicorn binds the socket it shares between workers with protocol 0, and asyncio sets
TCP_NODELAY on accepted connections only for an IPPROTO_TCP listening socket: without it
every response after the first on a kept-alive connection waited for the client's delayed
ACK (the #5 benchmark's two-worker slowdown). ``tcp_socket`` is what ``serve --workers``
hands to the workers."""

from __future__ import annotations

import asyncio
import pickle
import socket
from multiprocessing.reduction import ForkingPickler

import pytest

from policy_core.bootstrap import tcp_socket, worker_listener


def _nodelay_of_accepted(listener: socket.socket) -> int:
    async def main() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        value = await asyncio.wait_for(seen, 10)
        writer.close()
        server.close()
        await server.wait_closed()
        return value

    return asyncio.run(main())


def _listener() -> socket.socket:
    sock = socket.socket(family=socket.AF_INET)  # as uvicorn's Config.bind_socket makes it
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_uvicorns_shared_socket_alone_leaves_nagle_on():
    assert _nodelay_of_accepted(_listener()) == 0  # the cause, as found


def test_tcp_socket_gives_accepted_connections_tcp_nodelay():
    sock = tcp_socket(_listener())
    assert sock.proto == socket.IPPROTO_TCP and sock.get_inheritable()
    assert _nodelay_of_accepted(sock) != 0


def test_the_protocol_survives_the_hand_over_to_a_spawned_worker():
    sock = tcp_socket(_listener())
    rebuilt = pickle.loads(bytes(ForkingPickler.dumps(sock)))  # what multiprocessing sends a worker
    try:
        assert rebuilt.proto == socket.IPPROTO_TCP
        assert rebuilt.getsockname() == sock.getsockname()
    finally:
        rebuilt.close()
        sock.close()


def test_unix_and_tcp_sockets_are_left_as_they_are():
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        assert tcp_socket(tcp) is tcp and tcp_socket(unix) is unix
    finally:
        tcp.close()
        unix.close()


def _accepts_per_listener(listeners: list[socket.socket], connections: int) -> list[int]:
    """Open ``connections`` at once to the listeners' port; how many each one accepted."""
    for s in listeners:
        s.listen(connections)
        s.setblocking(False)
    port = listeners[0].getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    counts = [0] * len(listeners)
    accepted = []
    try:
        for i, s in enumerate(listeners):
            while True:
                try:
                    conn, _ = s.accept()
                except BlockingIOError:
                    break
                accepted.append(conn)
                counts[i] += 1
    finally:
        for c in clients + accepted:
            c.close()
    return counts


def test_each_spawned_worker_gets_its_own_socket_and_the_kernel_spreads_connections():
    supervisor = worker_listener("127.0.0.1", 0)
    address = supervisor.getsockname()
    workers = [pickle.loads(bytes(ForkingPickler.dumps(supervisor))) for _ in range(2)]  # as spawn sends it
    try:
        for w in workers:
            assert w.getsockname() == address and w.proto == socket.IPPROTO_TCP
            assert w.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert workers[0].fileno() != workers[1].fileno()  # not copies of one socket
        # a burst of connections, accepted by whichever listener is asked first: both get a share
        counts = _accepts_per_listener(workers, 64)
        assert sum(counts) == 64 and min(counts) > 0, counts
        # with one shared socket, the first to accept takes the whole burst (the cause, as found)
        shared = tcp_socket(_listener())
        copy = pickle.loads(bytes(ForkingPickler.dumps(shared)))
        try:
            assert _accepts_per_listener([shared, copy], 16) == [16, 0]
        finally:
            shared.close()
            copy.close()
    finally:
        for w in workers:
            w.close()
        supervisor.close()


def test_a_workers_own_socket_gives_its_connections_tcp_nodelay_and_the_supervisors_is_not_listening():
    supervisor = worker_listener("127.0.0.1", 0)
    worker = pickle.loads(bytes(ForkingPickler.dumps(supervisor)))
    try:
        assert supervisor.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0  # takes no connection
        assert _nodelay_of_accepted(worker) != 0
    finally:
        worker.close()
        supervisor.close()


def test_a_busy_address_is_refused_before_any_worker_starts():
    taken = _listener()
    taken.listen(1)
    try:
        with pytest.raises(OSError):
            worker_listener("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
