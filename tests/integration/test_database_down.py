"""Issue 10, defect 6: with PostgreSQL away, requests answer 503 problem+json with Retry-After
at once (the database gate; before: a generic 500 after up to 30 s), and the server recovers by
itself when the database returns. "Away" is a TCP proxy in front of the test database that
stops accepting and cuts every connection, then comes back on the same port."""

from __future__ import annotations

import socket
import tempfile
import threading
import uuid

from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.auth import parse_keys
from api.main import create_app
from policy_core.bootstrap import bootstrap
from policy_core.database import Database
from policy_core.settings import Settings
from tests.e2e.test_api_core import APPLICATION

KEY = "k" * 24
HEADERS = {"Authorization": f"Bearer {KEY}"}


class Proxy:
    """A TCP forwarder (to TCP or to the embedded server's Unix socket) that can be switched off
    (connections cut) and on again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: list[socket.socket] = []
        self.listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _connect(self) -> socket.socket:
        host, port = self.target
        if host.startswith("/"):  # the embedded server's DSN names its Unix-socket directory
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix.connect(f"{host}/.s.PGSQL.{port}")
            return unix
        return socket.create_connection(self.target)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                server = self._connect()
            except OSError:
                client.close()
                continue
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def down(self) -> None:
        self.up = False
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sockets.clear()

    def close(self) -> None:
        self.down()
        self.listener.close()


def test_database_down_answers_503_and_the_server_recovers(pg_dsn):
    info = conninfo_to_dict(pg_dsn)
    proxy = Proxy(str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432))
    dsn = make_conninfo(pg_dsn, host="127.0.0.1", port=str(proxy.port))
    db = Database(dsn=dsn, schema=f"t_{uuid.uuid4().hex[:16]}")
    db.ensure_schema()
    settings = Settings(POLICY_DATA_DIR=tempfile.mkdtemp())
    rt = bootstrap(settings, database=db, initialise=True)
    try:
        assert db.timeout == 2 and rt.app.env["POSTGRES_CONNECT_TIMEOUT"] == "2"  # connect and pool wait
        assert rt.read_models.pool.timeout == 2
        app = create_app(settings, runtime=rt, api_keys=parse_keys(f"operator:{KEY}"))
        with TestClient(app, raise_server_exceptions=False) as client:
            r = client.post("/api/v1/policies", headers=HEADERS, json=APPLICATION)
            assert r.status_code == 201, r.text
            pid = r.json()["id"]
            proxy.down()  # PostgreSQL goes away
            gate = app.state.db_gate
            assert not gate.probe() and not gate.probe() and gate.down  # what its thread finds in ~2 s
            for method, path, kwargs in (
                ("GET", f"/api/v1/policies/{pid}", {}),
                ("GET", "/api/v1/policies", {}),
                ("POST", "/api/v1/policies", {"json": dict(APPLICATION, member_number="M-2")}),
                ("POST", "/api/v1/claims", {"json": {"x": 1}, "headers": {"Idempotency-Key": "k1"}}),
            ):
                headers = dict(HEADERS, **kwargs.pop("headers", {}))
                r = client.request(method, path, headers=headers, **kwargs)
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.headers["retry-after"] and r.json()["type"].endswith(":database_unavailable")
            assert client.get("/api/v1/readyz").status_code == 503
            assert client.get("/api/v1/healthz").status_code == 200  # alive, only not ready
            proxy.up = True  # it returns
            assert gate.probe() and not gate.down  # the gate opens again
            r = client.get(f"/api/v1/policies/{pid}", headers=HEADERS)
            assert r.status_code == 200, r.text  # recovered without a restart
            r = client.post("/api/v1/policies", headers=HEADERS, json=dict(APPLICATION, member_number="M-3"))
            assert r.status_code == 201, r.text
    finally:
        rt.close()
        proxy.close()
        Database(dsn=pg_dsn, schema=db.schema).drop_schema()
